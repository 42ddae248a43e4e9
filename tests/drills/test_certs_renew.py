"""Drill: `kubeforge certs ENV --renew` renews every kubeadm certificate on every control-plane
node while the API keeps answering through the endpoint; the new expiry is later than the old
one everywhere, the fetched admin kubeconfig works, and a plain check afterwards changes
nothing. Prints the duration, the per-component restart times and the failed-request count."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from kubeforge import status
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl
from .remote import kubeforge

pytestmark = pytest.mark.lab


def _expiry(spec: ClusterSpec) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for host in spec.control_plane:
        data = json.loads(status.ssh(spec, host, "kubeadm certs check-expiration -o json"))
        out |= {(host.name, c.name): c.expires
                for c in status.parse_cert_expiry(host.name, data) if not c.authority}
    return out


class Poller(threading.Thread):
    """Reads an object through the endpoint every second, as a client would; counts what failed.
    (Not /readyz: an apiserver going down on purpose reports not ready while it still serves, and
    that is what takes it out of the load balancer.)"""

    def __init__(self, kubectl: Kubectl) -> None:
        super().__init__(daemon=True)
        self.kubectl = kubectl
        self.stop = threading.Event()
        self.total = 0
        self.failed: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            res = self.kubectl("get", "--raw", "/api/v1/namespaces/kube-system", timeout=5)
            self.total += 1
            if res.returncode != 0 or '"kube-system"' not in res.stdout:
                self.failed.append(f"{time.strftime('%H:%M:%S')} {res.stderr.strip()[:120]}")
            self.stop.wait(1)


def test_renew_certificates(spec: ClusterSpec, kubectl: Kubectl,
                            pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    before = _expiry(spec)
    assert before, "no certificates read from the control-plane nodes"

    poller = Poller(kubectl)
    poller.start()
    try:
        res = kubeforge("certs", env, "--renew", timeout=1500)
    finally:
        poller.stop.set()
        poller.join()
    print(res.stdout[-3000:])
    assert res.returncode == 0, f"certs --renew failed:\n{res.stdout[-4000:]}"

    restarts = re.findall(r"([\w.-]+): (\S+) restarted and healthy in ([\d.]+) s", res.stdout)
    print(f"renewal of {len(spec.control_plane)} control-plane nodes took {res.took:.0f} s; "
          f"restarts (node, component, s): {restarts}")
    print(f"API through the endpoint during the renewal: {len(poller.failed)} failed of "
          f"{poller.total} requests {poller.failed}")
    assert len(restarts) == 4 * len(spec.control_plane)

    after = _expiry(spec)
    stale = [k for k, v in before.items() if after.get(k, "") <= v]
    assert not stale, f"certificates whose expiry did not move: {stale}"
    print(f"apiserver expiry on {spec.control_plane[0].name}: "
          f"{before[(spec.control_plane[0].name, 'apiserver')]} -> "
          f"{after[(spec.control_plane[0].name, 'apiserver')]}")

    # the refreshed admin kubeconfig works through the endpoint
    ready = kubectl("get", "--raw", "/readyz")
    assert ready.returncode == 0 and ready.stdout.strip() == "ok", ready.stderr
    # the endpoint stays up: a renewal that takes the API away for long fails the drill
    assert len(poller.failed) <= max(3, poller.total // 20), poller.failed

    check = kubeforge("certs", env, timeout=600)
    assert check.returncode == 0, check.stdout[-3000:]
    assert "[kubeforge] changed=0 " in check.stdout, check.stdout[-2000:]
    print(f"check without --renew: changed=0 in {check.took:.0f} s")
