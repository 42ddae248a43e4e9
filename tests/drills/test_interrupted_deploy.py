"""Drill: a deploy from bare machines cut short loses nothing. Four times, on fresh lab machines,
`kubeforge deploy` is stopped part way through one step, as a person or the control host would
stop it: Ctrl-C (SIGINT to the whole run) during the package install and during a control-plane
join, SIGKILL of the whole run (the control host lost) during `kubeadm init` and during a Helm
install. Each time the next `kubeforge deploy` must converge to a healthy cluster and the one
after it must report changed=0. Prints the time to converge after each cut.

It rebuilds the lab machines, so `make drills` runs it last; the cluster it leaves is converged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeforge import lab, paths
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl
from .remote import kubeforge, not_ready_nodes, not_running_system_pods

pytestmark = pytest.mark.lab


@dataclass(frozen=True)
class Cut:
    where: str
    task: str  # the end of the step's TASK line, as ansible prints it when the step starts
    after: float  # seconds into the step
    sig: signal.Signals


CUTS = (
    Cut("package install", " : Install containerd, runc, the CNI plugins and crictl from the "
        "mirror]", 2, signal.SIGINT),
    Cut("kubeadm init", " : Run kubeadm init]", 5, signal.SIGKILL),
    Cut("control-plane join", " : Run kubeadm join | control-plane]", 15, signal.SIGINT),
    Cut("Helm install", " : Helm release | ", 3, signal.SIGKILL),
)


def _cut(env: str, cut: Cut, log: Path, timeout: float = 1200) -> str:
    """Starts a deploy, waits for `cut.task` to start, sends `cut.sig` to the whole run after
    `cut.after` seconds; returns the run's output."""
    cmd = [str(Path(sys.executable).parent / "kubeforge"), "deploy", env, "--yes"]
    print(f"$ {' '.join(cmd[1:])} cut with {cut.sig.name} {cut.after:.0f} s into the "
          f"{cut.where} (output: {log})", flush=True)
    deadline = time.monotonic() + timeout
    with log.open("w") as sink, subprocess.Popen(
            cmd, cwd=paths.ROOT, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True) as proc:
        while cut.task not in log.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"the deploy ended (rc {proc.returncode}) before the {cut.where}: "
                            f"{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"no {cut.where} within {timeout:.0f} s")
            time.sleep(0.5)
        time.sleep(cut.after)
        os.killpg(proc.pid, cut.sig)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"{cut.sig.name} did not stop the run within 2 minutes")
    out = log.read_text(errors="replace")
    print(f"  stopped: rc {rc}; last lines:\n    " + "\n    ".join(out.splitlines()[-4:]))
    return out


def _healthy(spec: ClusterSpec, kubectl: Kubectl) -> None:
    assert not_ready_nodes(kubectl) == [], "every node Ready after the converging deploy"
    nodes = kubectl("get", "nodes", "-o", "name")
    assert sorted(nodes.stdout.split()) == sorted(f"node/{h.name}" for h in spec.hosts)
    assert not_running_system_pods(kubectl) == [], "every kube-system pod Running"


@pytest.mark.parametrize("cut", CUTS, ids=[c.where.replace(" ", "-") for c in CUTS])
def test_a_cut_deploy_converges_on_the_next_run(
        spec: ClusterSpec, pytestconfig: pytest.Config, kubectl: Kubectl, cut: Cut) -> None:
    env = str(pytestconfig.getoption("env"))
    lab.down(spec)
    lab.up(spec)
    with tempfile.NamedTemporaryFile(prefix="kubeforge-cut-", suffix=".log", delete=False) as f:
        log = Path(f.name)
    out = _cut(env, cut, log)
    assert "Traceback" not in out, out[-3000:]

    again = kubeforge("deploy", env, timeout=1800)
    print(f"converged after a {cut.sig.name} in the {cut.where}: {again.took:.0f} s")
    assert again.returncode == 0, again.stdout[-4000:]
    _healthy(spec, kubectl)
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    assert noop.returncode == 0, noop.stdout[-4000:]
