"""What a drill under load needs to explain a failed request: when the failures happened, per
node, and what the cluster looked like then (the Service's ready endpoints, the kube-proxy pods).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class Window:
    """Failed requests to one target with no success-length gap between them."""

    target: str
    start: float
    end: float
    count: int
    error: str


def failure_windows(failures: Sequence[tuple[float, str, str]], gap: float = 2.0) -> list[Window]:
    """Group (time, target, error) failures into windows per target, split where `gap` seconds
    pass without a failure; ordered by start."""
    windows: list[Window] = []
    open_: dict[str, Window] = {}
    for when, target, err in sorted(failures):
        cur = open_.get(target)
        if cur is not None and when - cur.end <= gap:
            open_[target] = Window(target, cur.start, when, cur.count + 1, cur.error)
            continue
        if cur is not None:
            windows.append(cur)
        open_[target] = Window(target, when, when, 1, err)
    windows.extend(open_.values())
    return sorted(windows, key=lambda w: (w.start, w.target))


def _endpoints(kubectl: Kubectl, namespace: str, service: str) -> str:
    res = kubectl("-n", namespace, "get", "endpointslices", "-l",
                  f"kubernetes.io/service-name={service}", "-o", "json", timeout=5)
    if res.returncode != 0:
        return "unreadable"
    ready = sorted(
        str(ep.get("nodeName", "?"))
        for item in json.loads(res.stdout)["items"] for ep in item.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready"))
    return f"{len(ready)} ready ({', '.join(ready)})" if ready else "0 ready"


def _kube_proxies(kubectl: Kubectl) -> str:
    res = kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy", "-o", "json",
                  timeout=5)
    if res.returncode != 0:
        return "unreadable"
    out = []
    for pod in json.loads(res.stdout)["items"]:
        tag = pod["spec"]["containers"][0]["image"].rsplit(":", 1)[-1]
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in pod["status"].get("conditions") or [])
        out.append(f"{pod['spec'].get('nodeName', '?')}={tag}{'' if ready else '(not ready)'}")
    return " ".join(sorted(out))


@dataclass
class ClusterWatch:
    """Polls the Service's ready endpoints and the kube-proxy pods every second from a thread;
    keeps each change as (time, what, value)."""

    kubectl: Kubectl
    namespace: str
    service: str
    changes: list[tuple[float, str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> dict[str, str]:
        return {"endpoints": _endpoints(self.kubectl, self.namespace, self.service),
                "kube-proxy": _kube_proxies(self.kubectl)}

    def run(self) -> None:
        last: dict[str, str] = {}
        while not self.stop.is_set():
            try:
                now = self._read()
            except (subprocess.SubprocessError, json.JSONDecodeError, KeyError) as e:
                now = {"endpoints": f"unreadable ({type(e).__name__})"}
            for what, value in now.items():
                if last.get(what) != value:
                    last[what] = value
                    self.changes.append((time.monotonic(), what, value))
            self.stop.wait(1)

    def around(self, start: float, end: float, margin: float = 10) -> list[tuple[float, str, str]]:
        """The changes within `margin` seconds of [start, end], and the state just before."""
        before = {c[1]: c for c in self.changes if c[0] < start - margin}
        inside = [c for c in self.changes if start - margin <= c[0] <= end + margin]
        return sorted([*before.values(), *inside])
