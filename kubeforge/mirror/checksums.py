"""checksums.yml and `kubeforge mirror verify`: every published file re-hashed against its
`.sha256` sidecar and the table, every image blob against its digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeforge import safeyaml, versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci
from kubeforge.mirror.fsutil import atomic_write, sha256_file
from kubeforge.mirror.layout import MirrorLayout, sidecar

Table = dict[str, dict[str, str]]

HEADER = ("# sha256 of the artifacts this mirror serves, {artifact: {version: sha256}};\n"
          "# written by `kubeforge mirror build`. Point a spec's mirrors.checksums_file here.\n")


def read_sidecar(path: Path) -> str:
    text = sidecar(path).read_text().split()
    return text[0] if text else ""


def table_from_files(layout: MirrorLayout) -> Table:
    """{artifact: {version: sha256}} of every ARTIFACT_PATHS artifact present under files/."""
    table: Table = {}
    for release in versions.RELEASES.values():
        for artifact in versions.ARTIFACT_PATHS:
            path = layout.artifact_file(release, artifact)
            if path.is_file() and sidecar(path).is_file():
                version = versions.component_version(release, artifact)
                table.setdefault(artifact, {})[version] = read_sidecar(path)
    return {a: dict(sorted(v.items())) for a, v in table.items()}


def write_table(layout: MirrorLayout) -> Table:
    table = table_from_files(layout)
    body = yaml.safe_dump(table, sort_keys=False, default_flow_style=False)
    atomic_write(layout.checksums_file, (HEADER + body).encode())
    return table


def read_table(path: Path) -> Table:
    if not path.is_file():
        raise KubeforgeError(f"{path} does not exist: run `kubeforge mirror build` first")
    data: Any = safeyaml.read(path)[0] or {}
    if not isinstance(data, dict):
        raise KubeforgeError(f"{path}: expected {{artifact: {{version: sha256}}}}")
    return {str(a): {str(v): str(s) for v, s in (vs or {}).items()} for a, vs in data.items()}


def check_file(path: Path, expected: str | None = None) -> str | None:
    """A problem with one published file, or None if it matches its sidecar (and `expected`)."""
    if not path.is_file():
        return f"{path}: missing"
    if not sidecar(path).is_file():
        return f"{path}: its .sha256 file is missing"
    actual = sha256_file(path)
    recorded = read_sidecar(path)
    if actual != recorded:
        return f"{path}: sha256 {actual} does not match its .sha256 ({recorded}): corrupt"
    if expected is not None and actual != expected:
        return f"{path}: sha256 {actual} does not match checksums.yml ({expected})"
    return None


def _debian_problems(layout: MirrorLayout) -> list[str]:
    """The flat apt repository checks itself: Packages lists a SHA256 per .deb."""
    packages = layout.debian / "Packages"
    if not packages.is_file():
        return []
    problems: list[str] = []
    for stanza in packages.read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith(" "))
        if "Filename" not in fields:
            continue
        deb = layout.debian / fields["Filename"]
        if not deb.is_file():
            problems.append(f"{deb}: missing (listed in {packages})")
        elif sha256_file(deb) != fields.get("SHA256"):
            problems.append(f"{deb}: sha256 does not match {packages}: corrupt")
    return problems


def verify(layout: MirrorLayout) -> list[str]:
    """Every problem found in the mirror; an empty list means everything checks out."""
    problems: list[str] = []
    if not layout.files.is_dir():
        return [f"{layout.files}: missing; run `kubeforge mirror build`"]
    table = read_table(layout.checksums_file) if layout.checksums_file.exists() else {}
    expected: dict[Path, str] = {}
    for release in versions.RELEASES.values():
        for artifact in versions.ARTIFACT_PATHS:
            version = versions.component_version(release, artifact)
            sha = table.get(artifact, {}).get(version)
            if sha is not None:
                expected[layout.artifact_file(release, artifact)] = sha
    for path, sha in sorted(expected.items()):
        if (p := check_file(path, sha)) is not None:
            problems.append(p)
    debian = layout.debian
    for path in sorted(layout.files.rglob("*")):
        if path.is_relative_to(debian) or path in expected or path.is_dir():
            continue
        if path.name.endswith(".sha256"):
            if not path.with_name(path.name.removesuffix(".sha256")).exists():
                problems.append(f"{path.with_name(path.name.removesuffix('.sha256'))}: missing "
                                f"(its .sha256 exists)")
        elif (p := check_file(path)) is not None:
            problems.append(p)
    problems += _debian_problems(layout)
    if (layout.images / "index.json").exists():
        problems += oci.ImageLayout(layout.images).verify()
    return problems


def verify_or_raise(layout: MirrorLayout) -> None:
    problems = verify(layout)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise KubeforgeError(f"the mirror at {layout.root} has {len(problems)} problem(s):\n"
                             f"{lines}\nDelete the bad files and run `kubeforge mirror build` "
                             "again; it rebuilds only what is missing.")


def require_artifact(layout: MirrorLayout, release: versions.Release, artifact: str) -> Path:
    """The path of a published artifact, or a clear error if it is missing or corrupt."""
    path = layout.artifact_file(release, artifact)
    table = read_table(layout.checksums_file) if layout.checksums_file.exists() else {}
    version = versions.component_version(release, artifact)
    problem = check_file(path, table.get(artifact, {}).get(version))
    if problem is not None:
        raise KubeforgeError(f"mirror artifact {artifact} {version}: {problem}; run "
                             f"`kubeforge mirror build --release {release.kubernetes}`")
    return path
