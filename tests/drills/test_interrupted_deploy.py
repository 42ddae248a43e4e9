"""Drill: a deploy from bare machines cut short loses nothing. Four times, on fresh lab machines,
`kubeforge deploy` is stopped part way through one step, as a person or the control host would
stop it: Ctrl-C (SIGINT to the whole run) during the package install and during a control-plane
join, SIGKILL of the whole run (the control host lost) during `kubeadm init` (and of kubeadm on
the node, once it wrote the static pod manifests) and during a Helm install. Each time the next
`kubeforge deploy` must converge to a healthy cluster and the one after it must report changed=0.
Prints the time to converge after each cut.

It rebuilds the lab machines, so `make drills` runs it last; the cluster it leaves is converged."""

from __future__ import annotations

import signal

import pytest

from kubeforge import lab
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl
from .cuts import Cut, cut_run
from .remote import kubeforge, not_ready_nodes, not_running_system_pods, on

pytestmark = pytest.mark.lab

CUTS = (
    Cut("package install", " : Install containerd, runc, the CNI plugins and crictl from the "
        "mirror]", 2, signal.SIGINT),
    # SIGKILL of the run may or may not stop kubeadm on the node (its SSH session goes with the
    # run): killing it there too, once it has written admin.conf and the static pod manifests
    # (its preflight, which pulls the images, is over), makes this an init cut part way, every time
    Cut("kubeadm init", " : Run kubeadm init]", 2, signal.SIGKILL,
        on_node="timeout 120 bash -c 'until test -e /etc/kubernetes/manifests/kube-apiserver.yaml; "
                "do sleep 0.5; done'; pkill -KILL -x kubeadm"),
    Cut("control-plane join", " : Run kubeadm join | control-plane]", 15, signal.SIGINT),
    Cut("Helm install", " : Helm release | ", 3, signal.SIGKILL),
)


def _converges(spec: ClusterSpec, kubectl: Kubectl, env: str, when: str) -> None:
    """The next deploy converges to a healthy cluster, and the one after changes nothing."""
    again = kubeforge("deploy", env, timeout=1800)
    print(f"converged {when}: {again.took:.0f} s")
    assert again.returncode == 0, again.stdout[-4000:]
    assert not_ready_nodes(kubectl) == [], "every node Ready after the converging deploy"
    nodes = kubectl("get", "nodes", "-o", "name")
    assert sorted(nodes.stdout.split()) == sorted(f"node/{h.name}" for h in spec.hosts)
    assert not_running_system_pods(kubectl) == [], "every kube-system pod Running"
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    assert noop.returncode == 0, noop.stdout[-4000:]


@pytest.mark.parametrize("cut", CUTS, ids=[c.where.replace(" ", "-") for c in CUTS])
def test_a_cut_deploy_converges_on_the_next_run(
        spec: ClusterSpec, pytestconfig: pytest.Config, kubectl: Kubectl, cut: Cut) -> None:
    env = str(pytestconfig.getoption("env"))
    lab.down(spec)
    lab.up(spec)
    first_cp = spec.control_plane[0].name
    node_cut = (lambda: on(spec, first_cp, cut.on_node, timeout=150)) if cut.on_node else None
    cut_run(["deploy", env, "--yes"], cut, first=node_cut)
    if cut.on_node:
        left = on(spec, first_cp, "ls /etc/kubernetes /etc/kubernetes/manifests; "
                  "test -e /etc/kubernetes/kubeadm/init-done && echo init-done").stdout.split()
        print(f"  left on {first_cp}: {' '.join(left)}")
        assert "init-done" not in left
    _converges(spec, kubectl, env, f"after a {cut.sig.name} in the {cut.where}")


def test_a_host_that_stops_answering_mid_run(
        spec: ClusterSpec, pytestconfig: pytest.Config, kubectl: Kubectl) -> None:
    """A worker's machine is stopped 2 s into the package install of a deploy from bare machines:
    the run stops and its last lines name the host and the step; once the machine is back, the
    next deploy converges and the one after reports changed=0."""
    env = str(pytestconfig.getoption("env"))
    victim = spec.workers[-1].name
    lab.down(spec)
    lab.up(spec)
    cut = Cut(f"package install ({victim} stopped)", CUTS[0].task, 2, signal.SIGKILL)
    out = cut_run(["deploy", env, "--yes"], cut, instead=lambda: lab.stop_machine(spec, victim))
    step = CUTS[0].task.strip(" ]").removeprefix(": ")
    said = [line for line in out.splitlines() if f"{victim} did not answer in step" in line]
    print("  the run said: " + (said[0] if said else "(nothing about the host)"))
    assert said and step in said[0], out[-3000:]
    lab.start_machine(spec, victim)
    _converges(spec, kubectl, env, f"once {victim} was back")
