"""How long each of CI's optional steps took on this machine (Molecule scenarios, drills): what
the steps that fit CI's time budget are chosen by. Kept under the cache, one JSON file per kind."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from kubeforge import paths


def _file(kind: str) -> Path:
    return paths.cache_dir() / kind / "times.json"


def load(kind: str) -> dict[str, float]:
    try:
        data = json.loads(_file(kind).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save(kind: str, times: Mapping[str, float]) -> None:
    path = _file(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
