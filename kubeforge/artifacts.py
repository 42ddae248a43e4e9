"""Resolve every artifact a deploy downloads to (version, URL, pinned sha256) from the spec.

Checksums come from, in order of precedence: the spec's inline `mirrors.checksums`, the table a
self-built mirror publishes (`mirrors.checksums_file`), and kubeforge's table of upstream sha256
(`kubeforge/data/checksums.yml`). An artifact without a pinned checksum is an error: nothing is
downloaded unverified.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kubeforge import safeyaml, versions
from kubeforge.errors import KubeforgeError
from kubeforge.spec.models import ClusterSpec

Table = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    url: str
    sha256: str

    def as_dict(self) -> dict[str, str]:
        return {"version": self.version, "url": self.url, "sha256": self.sha256}


def _read_table(data: Any, source: str) -> Table:
    data = data or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise KubeforgeError(f"{source}: expected {{artifact: {{version: sha256}}}} — a "
                             "checksums file as `kubeforge mirror build` writes it")
    return {str(k): {str(vk): str(vv) for vk, vv in v.items()} for k, v in data.items()}


def upstream_checksums() -> Table:
    text = resources.files("kubeforge").joinpath("data/checksums.yml").read_text("utf-8")
    source = "kubeforge/data/checksums.yml"
    return _read_table(safeyaml.load_text(text, source)[0], source)


def checksum_table(spec: ClusterSpec) -> Table:
    table = upstream_checksums()
    layers: list[Table] = []
    if spec.mirrors.checksums_file:
        path: Path = spec.mirrors.checksums_file
        if not path.is_file():
            raise KubeforgeError(f"mirrors.checksums_file {path} does not exist — build the "
                                 "mirror (`kubeforge mirror build`) or fix the path")
        layers.append(_read_table(safeyaml.read(path, f"mirrors.checksums_file {path}")[0],
                                  f"mirrors.checksums_file {path}"))
    layers.append(spec.mirrors.checksums)
    for layer in layers:
        for name, by_version in layer.items():
            table.setdefault(name, {}).update(by_version)
    return table


def _base(spec: ClusterSpec, kind: str) -> str:
    return str(getattr(spec.mirrors, kind)).rstrip("/")


def resolve(spec: ClusterSpec, release: versions.Release | None = None) -> dict[str, Artifact]:
    """Every artifact of `release` (default: the spec's) with its URL and pinned sha256."""
    release = release or spec.kubernetes.release
    table = checksum_table(spec)
    out: dict[str, Artifact] = {}
    missing: list[str] = []
    for name, (kind, _) in versions.ARTIFACT_PATHS.items():
        version = versions.component_version(release, name)
        sha = table.get(name, {}).get(version, "").removeprefix("sha256:")
        if len(sha) != 64:
            missing.append(f"{name} {version}")
            continue
        url = f"{_base(spec, kind)}/{versions.artifact_path(release, name)}"
        out[name] = Artifact(name, version, url, sha)
    if missing:
        raise KubeforgeError(
            f"no pinned sha256 for: {', '.join(missing)} — add them under mirrors.checksums "
            "({artifact: {version: sha256}}) or point mirrors.checksums_file at your mirror's "
            "table (a kubeforge-built mirror writes checksums.yml)")
    return out
