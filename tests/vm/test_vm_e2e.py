"""End to end on QEMU virtual machines (`make vm-e2e`): the path a user's real hosts take.

From bare VMs (`lab.kind: vm`, Debian's own kernel: cgroup v2, modules, swap on the image) to a
deployed cluster with the spec's defaults (systemd cgroup driver, not in a container), a no-op
re-run with changed=0, `kubeforge verify`, then a reboot of one VM: the node comes back Ready
with its kernel modules loaded and swap still off. Prints each phase's time and the load
average; the VMs are removed at the end (and before, if a previous run left them).

    pytest -s -m lab tests/vm --env vm
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from drills.conftest import wait_for
from drills.remote import kubeforge, on

from kubeforge.spec import ClusterSpec, load_spec

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def spec(pytestconfig: pytest.Config) -> ClusterSpec:
    env = str(pytestconfig.getoption("env"))
    s = load_spec(env, check_files=False)  # `lab up` below makes the SSH key and known_hosts
    if s.lab is None or s.lab.kind != "vm":
        raise pytest.UsageError(f"{env} is not a VM lab (lab.kind: vm)")
    return s


class Phases:
    """Each phase's seconds and the load average at its end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float]] = []
        self.started = time.monotonic()

    def run(self, name: str, *args: str, timeout: float) -> None:
        t = time.monotonic()
        rc = kubeforge(*args, timeout=timeout).returncode
        self.rows.append((name, time.monotonic() - t, os.getloadavg()[0]))
        assert rc == 0, f"{name}: kubeforge {' '.join(args)} failed (rc {rc})"

    def mark(self, name: str, since: float) -> None:
        self.rows.append((name, time.monotonic() - since, os.getloadavg()[0]))

    def report(self) -> None:
        print("\nVM e2e phases (seconds, 1-minute load average at the end):")
        for name, secs, load in self.rows:
            print(f"  {secs:7.1f}s  load {load:4.1f}  {name}")
        print(f"  {time.monotonic() - self.started:7.1f}s  total")


@pytest.fixture(scope="module")
def phases(spec: ClusterSpec) -> Iterator[Phases]:
    p = Phases()
    p.run("lab down (leftovers)", "lab", "down", spec.name, timeout=300)
    try:
        yield p
    finally:
        kubeforge("lab", "down", spec.name, timeout=300)
        p.report()


def _kernel_state(spec: ClusterSpec, host: str) -> dict[str, str]:
    script = ("stat -fc %T /sys/fs/cgroup; "
              "tail -n +2 /proc/swaps | wc -l; "
              "grep -cE '^(overlay|br_netfilter) ' /proc/modules; "
              "systemctl is-active kubelet")
    res = on(spec, host, script, timeout=60)
    assert res.returncode == 0, res.stderr
    fs, swaps, modules, kubelet = res.stdout.split()
    return {"cgroup": fs, "swaps": swaps, "modules": modules, "kubelet": kubelet}


def test_deploy_on_vms(spec: ClusterSpec, phases: Phases) -> None:
    name = spec.name
    phases.run("lab up (boot the VMs)", "lab", "up", name, timeout=1800)
    phases.run("deploy from bare VMs", "deploy", name, timeout=5400)
    phases.run("deploy again (changed=0)", "deploy", name, "--expect-no-changes", timeout=3600)
    phases.run("verify", "verify", name, timeout=3600)

    # a reboot: what node_prep set up must come back by itself (modules, swap off, kubelet)
    host = spec.workers[0].name
    t = time.monotonic()
    on(spec, host, "systemctl reboot", timeout=30)
    time.sleep(10)
    wait_for(f"{host} to answer after the reboot",
             lambda: on(spec, host, "systemctl is-system-running --wait || true",
                        timeout=600).returncode == 0, 1200, 5)

    def kubelet_active() -> dict[str, str] | None:
        state = _kernel_state(spec, host)
        return state if state["kubelet"] == "active" else None

    state: dict[str, str] = wait_for(f"kubelet active on {host}", kubelet_active, 600, 5)
    phases.mark(f"reboot {host} until the kubelet runs", t)
    # back in the cluster: its Node Ready again (the pod network's agent restarted on it)
    t = time.monotonic()
    ready = ("kubectl --kubeconfig /etc/kubernetes/admin.conf get node " + host +
             " -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
    wait_for(f"{host} Ready again", lambda: on(spec, spec.control_plane[0].name, ready,
                                               timeout=60).stdout.strip() == "True", 900, 10)
    phases.mark(f"{host} Ready again", t)
    assert state["cgroup"] == "cgroup2fs", state
    assert state["swaps"] == "0", f"swap is on again after the reboot: {state}"
    assert state["modules"] == "2", f"overlay and br_netfilter are not both loaded: {state}"
    phases.run("verify after the reboot", "verify", name, timeout=3600)
