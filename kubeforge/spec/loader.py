"""Load a cluster spec from YAML and turn every problem into a message that names the file, the
line, the field path and the fix. Bad input never produces a traceback."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kubeforge import paths, safeyaml
from kubeforge.errors import KubeforgeError, SpecError
from kubeforge.spec.models import ClusterSpec
from kubeforge.spec.rules import Loc, Problem, check
from kubeforge.versions import CERT_MANAGER, DEFAULT_KUBERNETES, TRAEFIK

LineMap = dict[Loc, int]


def spec_path(env_or_path: str | Path) -> Path:
    """`lab` -> inventories/lab/cluster.yml; an existing file or folder is taken as it is."""
    p = Path(env_or_path)
    if p.is_dir():
        p = p / "cluster.yml"
    if p.is_file():
        return p
    candidate = paths.inventories_dir() / str(env_or_path) / "cluster.yml"
    if candidate.is_file():
        return candidate
    known = sorted(d.parent.name for d in paths.inventories_dir().glob("*/cluster.yml"))
    raise KubeforgeError(
        f"no cluster spec for {str(env_or_path)!r}: expected {candidate} or a path to a "
        f"cluster.yml — known environments: {', '.join(known) or 'none'}"
    )


def _lines(node: yaml.Node, loc: Loc, out: LineMap) -> None:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[(*loc, k, "<key>")] = key.start_mark.line + 1
            _lines(value, (*loc, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*loc, i), out)


def _parsed(data: Any, node: yaml.Node | None) -> tuple[Any, LineMap]:
    lines: LineMap = {}
    if node is not None:
        _lines(node, (), lines)
    return data, lines


def parse_yaml(text: str, source: str) -> tuple[Any, LineMap]:
    return _parsed(*safeyaml.load_text(text, source))


def _line(lines: LineMap, loc: Loc) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]+")


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):  # a key with spaces or control characters
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that owns the field at `loc`, to suggest known keys for typos."""
    model: Any = ClusterSpec
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        field = fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        args = getattr(ann, "__args__", ()) or (ann,)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)),
                     next((b for a in args for b in getattr(a, "__args__", ())
                           if isinstance(b, type) and issubclass(b, BaseModel)), None))
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _pydantic_problem(err: Any) -> Problem:
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        fix = f"did you mean {close[0]!r}?" if close else (
            f"known keys here: {', '.join(known)}" if known else "remove it")
        return Problem(loc, f"unknown key {loc[-1]!r}", fix)
    if kind == "missing":
        return Problem(loc, "required field is missing", f"add {dotted(loc)}")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return Problem(loc, f"{value!r} is not allowed", f"use one of {expected}")
    if kind == "string_pattern_mismatch" and loc[-1] in ("version", "kubelet_version"):
        if loc[:1] == ("ingress",):
            return Problem(loc, f"{value!r} is not a Traefik 3 version (kubeforge's chart runs "
                           "that Traefik image)", f"write it as {TRAEFIK}; for Traefik's own "
                           "chart set ingress.controller: none and declare it under releases")
        example = CERT_MANAGER if loc[:1] == ("cert_manager",) else DEFAULT_KUBERNETES
        return Problem(loc, f"{value!r} is not a version",
                       f"write it as {example} (or v{example})")
    if kind == "string_pattern_mismatch" and loc[-1] == "name":
        return Problem(loc, f"{value!r} is not a valid name", "use lowercase letters, digits "
                       "and '-', starting and ending with a letter or digit (max 63)")
    if kind.startswith("ip_v4") or kind.startswith("ipv4"):
        what, example = ("network", "10.0.0.0/24") if "network" in kind else (
            "address", "10.0.0.11")
        return Problem(loc, f"{value!r} is not an IPv4 {what}", f"write it like {example}")
    return Problem(loc, f"{err['msg']} (got {value!r})" if value is not None and not isinstance(
        value, (dict, list)) else err["msg"], f"fix {dotted(loc)}")


def _format(source: str, lines: LineMap, problems: list[Problem]) -> list[str]:
    out = []
    for p in problems:
        key_line = _line(lines, (*p.loc, "<key>")) if p.loc else None
        line = key_line or _line(lines, p.loc)
        where = f"line {line}, " if line else ""
        out.append(f"{where}{dotted(p.loc)}: {p.text()}")
    return out


def validate_data(data: Any, source: str, lines: LineMap | None = None,
                  base_dir: Path | None = None, check_files: bool = True) -> ClusterSpec:
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError(source, ["the spec must be a mapping (name:, hosts:, ...) at the top "
                                 "level — see inventories/example-prod/cluster.yml"])
    try:
        spec = ClusterSpec.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as e:
        problems = [_pydantic_problem(err) for err in e.errors()]
        raise SpecError(source, _format(source, lines, problems)) from None
    found = check(spec, check_files=check_files)
    if found:
        raise SpecError(source, _format(source, lines, found))
    return spec


def load_spec(env_or_path: str | Path, check_files: bool = True) -> ClusterSpec:
    """Load and validate a spec; raises SpecError listing every problem found."""
    path = spec_path(env_or_path)
    try:
        source = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        source = str(path)
    data, lines = _parsed(*safeyaml.read(path, source))
    return validate_data(data, source, lines, path.parent.resolve(), check_files)
