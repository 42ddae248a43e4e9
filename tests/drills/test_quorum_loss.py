"""Drill: lose etcd quorum. With 2 of 3 control-plane machines stopped the API stops answering
through the endpoint (etcd has no quorum, so no kube-apiserver is ready); once they boot again
the cluster recovers by itself and an object written before the stop is still there."""

from __future__ import annotations

import time

import pytest

from kubeforge import lab
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl, wait_for
from .remote import healthy

pytestmark = pytest.mark.lab


def test_quorum_loss_and_recovery(spec: ClusterSpec, kubectl: Kubectl) -> None:
    cps = [h.name for h in spec.control_plane]
    if len(cps) < 3:
        pytest.skip("needs 3 control-plane nodes")
    # a majority: with 3 members, 2 stopped leaves no quorum
    victims = cps[-(len(cps) // 2 + 1):]
    assert wait_for("a healthy cluster before the drill", lambda: healthy(kubectl), 300)
    name = f"drill-quorum-{int(time.time())}"
    assert kubectl("-n", "default", "create", "configmap", name,
                   "--from-literal=written=before-the-stop").returncode == 0

    started = time.monotonic()
    try:
        for victim in victims:
            lab.stop_machine(spec, victim)
        stopped = time.monotonic()
        print(f"stopped {', '.join(victims)} in {stopped - started:.1f}s")

        def read_fails() -> bool:
            res = kubectl("-n", "default", "get", "configmap", name, timeout=5)
            if res.returncode == 0:
                print("read still answered (etcd not yet out of quorum)")
            return res.returncode != 0

        assert wait_for("reads through the endpoint to fail", read_fails, 120, interval=2)
        print(f"reads failed {time.monotonic() - stopped:.1f}s after the stop: "
              f"{kubectl('get', 'configmap', name, timeout=5).stderr.strip()[:200]}")
    finally:
        for victim in victims:
            lab.start_machine(spec, victim)
    booted = time.monotonic()
    print(f"started {', '.join(victims)} again in {booted - started:.1f}s from the stop")

    def read_ok() -> bool:
        res = kubectl("-n", "default", "get", "configmap", name, "-o",
                      "jsonpath={.data.written}", timeout=5)
        return res.returncode == 0 and res.stdout == "before-the-stop"

    assert wait_for("the object written before the stop, read through the endpoint", read_ok,
                    300, interval=2)
    print(f"API answered with the object {time.monotonic() - booted:.1f}s after the boot")
    assert wait_for("every node Ready and every kube-system pod Running",
                    lambda: healthy(kubectl), 420, interval=5)
    print(f"cluster healthy {time.monotonic() - booted:.1f}s after the boot")
    assert kubectl("-n", "default", "delete", "configmap", name).returncode == 0
