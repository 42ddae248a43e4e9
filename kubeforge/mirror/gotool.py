"""Drive the `go` command (no shell) to build upstream main packages through a wrapper module.

`go install pkg@ver` refuses modules whose go.mod has replace directives, so every component is
built the same way: a throwaway main module requires the upstream module(s), copies upstream's
non-local replace/exclude lines and pins, lists the main packages in a `tools`-tagged file so
`go mod tidy` keeps them, and `go build`s them by import path (research §1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.mirror.fsutil import atomic_path, writable_copy

LOG_TAIL = 25


@dataclass(frozen=True)
class Binary:
    package: str  # import path of a main package
    name: str  # file name of the built binary


@dataclass(frozen=True)
class GoBuild:
    """One `go build` of main packages from published modules."""

    requires: tuple[tuple[str, str], ...]  # (module, version)
    binaries: tuple[Binary, ...]
    # Module whose go/godebug lines and non-local replace/exclude lines the wrapper copies.
    primary: str
    # Test binaries (`go test -c`) of packages in the same module graph: the package, its file.
    tests: tuple[Binary, ...] = ()
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cgo: bool = False
    # Extra replace pins (old module -> new module@version), after the copied ones.
    replaces: tuple[tuple[str, str], ...] = ()
    # (local target prefix, version): upstream's local replaces under that prefix are pinned to
    # the published module at that version (k8s.io staging: `./staging/` -> v0.X.Y).
    pin_local: tuple[str, str] | None = None
    # Pin upstream's pre-release requirements (vX.Y.Z-rc.N) to their final vX.Y.Z: a release
    # that shipped against an -rc whose checksum this proxy's sum.golang.org cannot serve.
    finalize_prereleases: bool = False
    # The next three patch the primary module: any of them switches to building a writable copy
    # of it as the main module instead of a wrapper (see `patches_primary`).
    # (file in the primary module, import path): blank imports to drop.
    drop_imports: tuple[tuple[str, str], ...] = ()
    # Upstream replaces to drop (local targets outside the module zip): the module's own
    # requirement of each is then fetched from the proxy.
    drop_replaces: tuple[str, ...] = ()
    # Directories of the primary module to `go generate` in before building (files upstream
    # generates at release time instead of committing them).
    generate: tuple[str, ...] = ()
    # Modules whose checksums are not in sum.golang.org as this proxy serves it (see report).
    nosumdb: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # for every go command of the build

    @property
    def patches_primary(self) -> bool:
        return bool(self.drop_imports or self.drop_replaces or self.generate)


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every go invocation: fail fast instead of fetching toolchains."""
    if shutil.which("go") is None:
        raise KubeforgeError("`go` is not on PATH; install Go >= 1.24 to build the mirror")
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
    env.update(extra or {})
    return env


def run_go(args: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> str:
    """Run `go ARGS` in cwd; append its output to log; raise with the log's tail on failure."""
    proc = subprocess.run(["go", *args], cwd=cwd, env=dict(env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ go {' '.join(args)}\n{proc.stdout}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-LOG_TAIL:])
        raise KubeforgeError(f"`go {' '.join(args[:2])} ...` failed in {cwd} "
                             f"(exit {proc.returncode}); full log: {log}\n{tail}")
    return proc.stdout


def module_info(module: str, version: str, env: Mapping[str, str], log: Path) -> dict[str, str]:
    """`go mod download -json` of one module version: Dir, GoMod, Info, ... (fetches if needed)."""
    out = run_go(["mod", "download", "-json", f"{module}@{version}"], log.parent, env, log)
    data: dict[str, str] = json.loads(out[out.index("{"):])
    if data.get("Error"):
        raise KubeforgeError(f"{module}@{version} is not available from the Go module proxy: "
                             f"{data['Error']}. Pick a version the proxy serves in "
                             "kubeforge/versions.py")
    return data


def release_time(module: str, version: str, env: Mapping[str, str], log: Path) -> str:
    """The proxy's publish time of a version: a reproducible stand-in for the build date."""
    info = json.loads(Path(module_info(module, version, env, log)["Info"]).read_text())
    return str(info.get("Time", "1970-01-01T00:00:00Z"))


_REPLACE_RE = re.compile(r"^\s*(?:replace\s+)?(\S+)(?:\s+(\S+))?\s+=>\s+(\S+)(?:\s+(\S+))?\s*$")
_EXCLUDE_RE = re.compile(r"^\s*(?:exclude\s+)?(\S+)\s+(v\S+)\s*$")


@dataclass(frozen=True)
class GoMod:
    """The parts of an upstream go.mod a wrapper module needs."""

    go: str
    godebug: tuple[str, ...]
    replaces: tuple[tuple[str, str, str | None], ...]  # (old, new, new version or None=local)
    excludes: tuple[tuple[str, str], ...]
    requires: tuple[tuple[str, str], ...] = ()


def parse_gomod(text: str) -> GoMod:
    go = "1.22"
    godebug: list[str] = []
    replaces: list[tuple[str, str, str | None]] = []
    excludes: list[tuple[str, str]] = []
    requires: list[tuple[str, str]] = []
    block = ""
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].rstrip()
        if not line.strip():
            continue
        stripped = line.strip()
        if stripped == ")":
            block = ""
            continue
        head = stripped.split()[0]
        if stripped.endswith("(") and head in ("replace", "exclude", "godebug", "require"):
            block = head
            continue
        kind = head if head in ("go", "replace", "exclude", "godebug", "require") else block
        if kind == "go" and head == "go":
            go = stripped.split()[1]
        elif kind == "godebug":
            godebug.append(stripped.removeprefix("godebug").strip())
        elif kind == "replace" and (m := _REPLACE_RE.match(stripped)):
            old, old_version, new, new_version = m.groups()
            local = new.startswith((".", "/"))
            # a versioned replace (`old v1.2.3 => ...`) must stay one: it pins that version only
            old = f"{old}@{old_version}" if old_version else old
            replaces.append((old, new, None if local else new_version))
        elif kind == "exclude" and (m := _EXCLUDE_RE.match(stripped)):
            excludes.append((m.group(1), m.group(2)))
        elif kind == "require" and (m := _EXCLUDE_RE.match(stripped.removeprefix("require"))):
            requires.append((m.group(1), m.group(2)))
    return GoMod(go, tuple(godebug), tuple(replaces), tuple(excludes), tuple(requires))


def _default_name(package: str) -> str:
    """The file name `go build -o dir/` gives a main package: last element minus a /vN suffix."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
        parts.pop()
    return parts[-1]


def copy_commands(spec: GoBuild) -> list[list[str]]:
    """The go commands that prepare the patched copy of the primary module, in order."""
    edits = [f"-dropreplace={m}" for m in spec.drop_replaces]
    edits += [f"-replace={o}={n}" for o, n in spec.replaces]
    # go.mod first: `go generate` runs go commands that load the (fixed) module graph.
    return ([["mod", "edit", *edits]] if edits else []) + [
        ["generate", f"./{d}"] for d in spec.generate]


def _patched_copy(spec: GoBuild, work: Path, env: Mapping[str, str], log: Path) -> Path:
    """A writable copy of the primary module, patched by `spec`; its go.mod rules."""
    info = module_info(spec.primary, dict(spec.requires)[spec.primary], env, log)
    src = work / "src"
    writable_copy(Path(info["Dir"]), src)
    for rel, imp in spec.drop_imports:
        f = src / rel
        lines = f.read_text().splitlines(keepends=True)
        kept = [ln for ln in lines if ln.strip() != f'_ "{imp}"']
        if len(kept) == len(lines):
            raise KubeforgeError(f"{spec.primary}: {rel} no longer imports {imp}; update the "
                                 "recipe in kubeforge/mirror/components.py")
        f.write_text("".join(kept))
        if imp.startswith(spec.primary + "/"):
            shutil.rmtree(src / imp.removeprefix(spec.primary + "/"), ignore_errors=True)
    for args in copy_commands(spec):
        run_go(args, src, env, log)
    # No `go mod tidy`: upstream's go.mod and go.sum are complete, and tidy would fetch every
    # test-only dependency (and the dropped package's) too. -mod=mod fetches what the build uses.
    return src


def build(spec: GoBuild, work: Path, out: Path) -> None:
    """Build `spec` in the wrapper module directory `work`; binaries land in `out` atomically."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text("")
    extra = dict(spec.env)
    if spec.nosumdb:
        extra["GONOSUMDB"] = ",".join(spec.nosumdb)
    env = go_env(extra)
    if spec.patches_primary:
        _go_build(spec, _patched_copy(spec, work, env, log), out, env, log)
        return
    versions = dict(spec.requires)
    upstream = parse_gomod(Path(module_info(spec.primary, versions[spec.primary], env,
                                            log)["GoMod"]).read_text())
    for name in ("go.mod", "go.sum", "tools.go"):
        (work / name).unlink(missing_ok=True)
    lines = [f"module local/kubeforge-build\n\ngo {upstream.go}\n"]
    lines += [f"godebug {d}\n" for d in upstream.godebug]
    (work / "go.mod").write_text("".join(lines))
    run_go(["mod", "edit", *wrapper_edits(spec, upstream)], work, env, log)
    imports = "".join(f'\t_ "{b.package}"\n' for b in (*spec.binaries, *spec.tests))
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
    run_go(["mod", "tidy"], work, env, log)
    _go_build(spec, work, out, env, log)


def wrapper_edits(spec: GoBuild, upstream: GoMod) -> list[str]:
    """The `go mod edit` flags that make the wrapper module require and pin like upstream."""
    edits = [f"-require={m}@{v}" for m, v in spec.requires]
    for old, new, new_version in upstream.replaces:
        if new_version is not None:
            edits.append(f"-replace={old}={new}@{new_version}")
        elif spec.pin_local and new.startswith(spec.pin_local[0]):
            edits.append(f"-replace={old}={old}@{spec.pin_local[1]}")
    edits += [f"-exclude={m}@{v}" for m, v in upstream.excludes]
    if spec.finalize_prereleases:
        edits += [f"-replace={m}={m}@{v.split('-rc.')[0]}" for m, v in upstream.requires
                  if re.fullmatch(r"v[0-9]+\.[0-9]+\.[0-9]+-rc\.[0-9]+", v)]
    edits += [f"-replace={old}={new}" for old, new in spec.replaces]
    return edits


def _go_build(spec: GoBuild, work: Path, out: Path, env: Mapping[str, str], log: Path) -> None:
    build_env = dict(env, CGO_ENABLED="1" if spec.cgo else "0")
    flags = ["-trimpath", *(["-tags", ",".join(spec.tags)] if spec.tags else []),
             "-ldflags", " ".join(spec.ldflags)]
    with atomic_path(out) as tmp:
        tmp.mkdir()
        if spec.binaries:
            run_go(["build", *flags, "-o", f"{tmp}/", *(b.package for b in spec.binaries)],
                   work, build_env, log)
        for b in spec.binaries:
            built = tmp / _default_name(b.package)
            if built.name != b.name:
                built.rename(tmp / b.name)
        for t in spec.tests:
            run_go(["test", "-c", *flags, "-o", str(tmp / t.name), t.package], work, build_env,
                   log)
        for b in (*spec.binaries, *spec.tests):
            if not (tmp / b.name).is_file():
                raise KubeforgeError(f"go did not produce {b.name}; see {log}")
