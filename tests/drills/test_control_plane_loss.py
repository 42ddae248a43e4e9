"""Drill: lose the first control-plane machine. The API keeps serving through the endpoint,
writes succeed, the scheduler/controller-manager leases move to a surviving node, and the
machine comes back as a Ready member."""

from __future__ import annotations

import json
import time

import pytest

from kubeforge import lab
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl, wait_for

pytestmark = pytest.mark.lab

LEASES = ("kube-scheduler", "kube-controller-manager")


def holder(kubectl: Kubectl, lease: str) -> str:
    """The node holding `lease`, or "" while the API does not answer (polling goes on)."""
    res = kubectl("-n", "kube-system", "get", "lease", lease, "-o", "json")
    if res.returncode != 0:
        print(f"reading lease {lease} failed: {res.stderr.strip()}")
        return ""
    return str(json.loads(res.stdout)["spec"]["holderIdentity"]).split("_")[0]


def test_losing_the_first_control_plane_node(spec: ClusterSpec, kubectl: Kubectl) -> None:
    victim = spec.control_plane[0].name
    survivors = {h.name for h in spec.control_plane[1:]}
    before = {lease: holder(kubectl, lease) for lease in LEASES}
    assert all(before.values()), "the API must answer before the drill starts"
    print(f"lease holders before: {before}")

    started = time.monotonic()
    lab.stop_machine(spec, victim)
    try:
        nodes = wait_for("kubectl get nodes through the endpoint",
                         lambda: kubectl("get", "nodes", "-o", "name").returncode == 0, 60)
        assert nodes
        print(f"API answered through the endpoint {time.monotonic() - started:.1f}s after the stop")
        name = f"drill-{int(time.time())}"
        res = wait_for("a write through the endpoint", lambda: kubectl(
            "-n", "default", "create", "configmap", name, "--from-literal=drill=ok")
            .returncode == 0, 60)
        assert res
        moved = wait_for("leases held by surviving nodes", lambda: all(
            holder(kubectl, lease) in survivors for lease in LEASES), 90)
        assert moved
        after = {lease: holder(kubectl, lease) for lease in LEASES}
        print(f"lease holders after: {after} ({time.monotonic() - started:.1f}s after the stop)")
        kubectl("-n", "default", "delete", "configmap", name)
    finally:
        lab.start_machine(spec, victim)

    def victim_ready() -> bool:
        res = kubectl("get", "node", victim, "-o", "json")
        conds = json.loads(res.stdout)["status"]["conditions"] if res.returncode == 0 else []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def victim_apiserver_ready() -> bool:
        # the node object may still say Ready from before; the restarted apiserver cannot lie
        res = kubectl("--server", f"https://{spec.control_plane[0].address}:6443",
                      "get", "--raw", "/readyz", timeout=5)
        return res.returncode == 0 and res.stdout.strip() == "ok"

    assert wait_for(f"{victim}'s kube-apiserver ready again", victim_apiserver_ready, 240)
    assert wait_for(f"{victim} Ready again", victim_ready, 180)
    print(f"{victim} Ready again {time.monotonic() - started:.1f}s after the stop")
