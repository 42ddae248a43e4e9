"""Drill: the control-plane VIP follows a working haproxy. Stopping haproxy on the node that holds
the VIP moves the VIP to another control-plane node (keepalived's track script) and the API
answers through the VIP again; haproxy started again leaves one holder and a healthy cluster."""

from __future__ import annotations

import time

import pytest

from kubeforge.spec import ClusterSpec

from .conftest import Kubectl, wait_for
from .remote import healthy, on

pytestmark = pytest.mark.lab


def holders(spec: ClusterSpec) -> list[str]:
    """The control-plane nodes that carry the VIP right now."""
    vip = str(spec.control_plane_endpoint.address)
    found = []
    for h in spec.control_plane:
        res = on(spec, h.name, "ip -o -4 addr show", timeout=15)
        if res.returncode == 0 and f" {vip}/" in res.stdout:
            found.append(h.name)
    return found


def api_answers(kubectl: Kubectl) -> bool:
    res = kubectl("get", "--raw", "/readyz", timeout=5)
    return res.returncode == 0 and res.stdout.strip() == "ok"


def test_vip_moves_when_haproxy_stops(spec: ClusterSpec, kubectl: Kubectl) -> None:
    if spec.control_plane_endpoint.mode != "vip":
        pytest.skip("the spec's endpoint is not a keepalived VIP")
    if len(spec.control_plane) < 2:
        pytest.skip("needs a second control-plane node to move the VIP to")
    assert wait_for("a healthy cluster before the drill", lambda: healthy(kubectl), 300)
    before = wait_for("exactly one VIP holder", lambda: (h := holders(spec)) and len(h) == 1
                      and h, 60)
    victim = before[0]
    print(f"VIP {spec.control_plane_endpoint.address} held by {victim}")

    started = time.monotonic()
    assert on(spec, victim, "systemctl stop haproxy").returncode == 0
    try:
        moved = wait_for("the VIP on another control-plane node",
                         lambda: (h := holders(spec)) and victim not in h and h, 60, interval=0.5)
        took_move = time.monotonic() - started
        assert len(moved) == 1, f"the VIP must have exactly one holder, not {moved}"
        assert wait_for("the API through the VIP", lambda: api_answers(kubectl), 60, interval=0.5)
        took_api = time.monotonic() - started
        print(f"haproxy stopped on {victim}: VIP on {moved[0]} after {took_move:.1f}s, "
              f"API answered through the VIP after {took_api:.1f}s")
        name = f"drill-vip-{int(time.time())}"
        assert kubectl("-n", "default", "create", "configmap", name).returncode == 0
        kubectl("-n", "default", "delete", "configmap", name)
    finally:
        on(spec, victim, "systemctl start haproxy")

    restarted = time.monotonic()
    after = wait_for("exactly one VIP holder after haproxy is back",
                     lambda: (h := holders(spec)) and len(h) == 1 and h, 60, interval=0.5)
    assert wait_for("the API through the VIP", lambda: api_answers(kubectl), 60, interval=0.5)
    print(f"haproxy back on {victim}: VIP on {after[0]}, API answering "
          f"{time.monotonic() - restarted:.1f}s after the start")
    assert wait_for("every node Ready and every kube-system pod Running",
                    lambda: healthy(kubectl), 180, interval=5)
