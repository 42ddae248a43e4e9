"""What the addons role decides from kubeforge.cluster.addons_state's reading, on the control host.

`releases | addons_pending(state)` lists the declared releases helm must install or upgrade: a
release is left alone when its newest revision is deployed with the declared chart name, version
and values, and its local chart (if any) is the copy last deployed. `state | addons_statuses`
keeps only each release's status (the deployed values may hold secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def _chart(release: dict[str, Any]) -> tuple[Any, Any]:
    """(name, version) of the chart a release declares: a local chart says it in Chart.yaml."""
    if release.get("path"):
        meta = yaml.safe_load((Path(release["path"]) / "Chart.yaml").read_text()) or {}
        return meta.get("name"), meta.get("version")
    return release.get("chart"), release.get("version")


def addons_pending(releases: list[dict[str, Any]], state: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in releases:
        key = f"{r['namespace']}/{r['name']}"
        deployed = (state.get("releases") or {}).get(key) or {}
        name, version = _chart(r)
        same = (deployed.get("status") == "deployed" and version is not None
                and deployed.get("chart") == name
                and str(deployed.get("version")) == str(version)
                and deployed.get("config") == r.get("values")
                and (not r.get("path")
                     or (state.get("charts") or {}).get(key) == r.get("checksum")))
        if not same:
            out.append(r)
    return out


def addons_statuses(state: dict[str, Any]) -> dict[str, Any]:
    return {key: d.get("status") for key, d in (state.get("releases") or {}).items()}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"addons_pending": addons_pending, "addons_statuses": addons_statuses}
