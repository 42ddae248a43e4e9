"""Drill: a node loses its state while the cluster runs (a disk replaced, a folder wiped by hand).

- A control-plane node's etcd data folder is wiped: its etcd must not start a cluster of its own
  (it fails instead); `kubeforge plan` names the node and what it lost; `kubeforge deploy` removes
  its etcd member from another member, resets the node and joins it again: etcd has its three
  members again, the node's under a new member ID, and the next deploy reports changed=0.
- A worker's kubelet state (/var/lib/kubelet) is wiped: the same deploy takes it back.
- The first control-plane node (the one that ran kubeadm init) loses its etcd data: its etcd must
  fail rather than serve an empty cluster behind the endpoint, and deploy refuses with the way out
  (list it after the others), which then works.

Prints the time each deploy took to take the node back."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from kubeforge import paths
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl, wait_for
from .remote import absolute_paths, kubeforge, not_ready_nodes, not_running_system_pods, on

pytestmark = pytest.mark.lab

ETCDCTL = ("crictl exec $(crictl ps --name '^etcd$' --state running -q | head -n1) etcdctl "
           "--endpoints https://127.0.0.1:2379 --dial-timeout 3s --command-timeout 8s "
           "--cacert /etc/kubernetes/pki/etcd/ca.crt "
           "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt "
           "--key /etc/kubernetes/pki/etcd/healthcheck-client.key")
# the etcd static pod stopped, its data folder removed, the pod started again by the kubelet
WIPE_ETCD = ("set -e; m=/etc/kubernetes/manifests/etcd.yaml; mv $m /root/etcd.yaml.drill; "
             "for i in $(seq 90); do crictl ps --name '^etcd$' -q | grep -q . || break; sleep 1; "
             "done; rm -rf /var/lib/etcd; mv /root/etcd.yaml.drill $m")


def _members(spec: ClusterSpec, via: str) -> dict[str, str]:
    """etcd member name -> member ID (hex), as the member on `via` lists them."""
    res = on(spec, via, f"{ETCDCTL} member list -w json", timeout=60)
    assert res.returncode == 0, res.stderr
    return {m.get("name", ""): f"{int(m['ID']):x}" for m in json.loads(res.stdout)["members"]}


def _alone(spec: ClusterSpec, host: str) -> bool:
    """Whether `host`'s etcd answers as a cluster of one (the split brain this must prevent)."""
    res = on(spec, host, f"{ETCDCTL} member list -w json", timeout=60)
    return res.returncode == 0 and len(json.loads(res.stdout).get("members", [])) == 1


def _converged(spec: ClusterSpec, kubectl: Kubectl, env: str, victim: str,
               before: dict[str, str]) -> None:
    via = next(h.name for h in spec.control_plane if h.name != victim)
    after = _members(spec, via)
    assert sorted(after) == sorted(before), f"etcd members {sorted(after)}"
    if victim in before:
        assert after[victim] != before[victim], "the node joined etcd again as a new member"
    health = on(spec, via, f"{ETCDCTL} endpoint health --cluster -w json", timeout=60)
    assert health.returncode == 0, f"an etcd member is unhealthy: {health.stdout}{health.stderr}"
    assert not_ready_nodes(kubectl) == [], "every node Ready"
    assert not_running_system_pods(kubectl) == [], "every kube-system pod Running"
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    assert noop.returncode == 0, noop.stdout[-4000:]


def _take_back(env: str, victim: str, lost: str) -> float:
    plan = kubeforge("plan", env, timeout=900)
    assert plan.returncode == 2, plan.stdout[-4000:]
    assert re.search(rf"{victim} lost [^\n]*{lost}", plan.stdout), plan.stdout[-4000:]
    run = kubeforge("deploy", env, timeout=1800)
    assert run.returncode == 0, run.stdout[-4000:]
    print(f"{victim} ({lost}) taken back and joined again in {run.took:.0f} s")
    return run.took


def test_a_control_plane_node_that_lost_its_etcd_data_joins_again(
        spec: ClusterSpec, kubectl: Kubectl, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    victim = spec.control_plane[1].name
    before = _members(spec, spec.control_plane[0].name)
    wiped = on(spec, victim, WIPE_ETCD, timeout=150)
    assert wiped.returncode == 0, wiped.stderr
    # kubelet starts it again on the empty folder: it must fail, not stand alone
    wait_for(f"{victim}'s etcd to try", lambda: on(spec, victim, "ls /var/lib/etcd/member")
             .returncode == 0, 90)
    assert not _alone(spec, victim), f"{victim}'s etcd started a cluster of its own"
    _take_back(env, victim, "etcd member")
    _converged(spec, kubectl, env, victim, before)


def test_a_worker_that_lost_its_kubelet_state_joins_again(
        spec: ClusterSpec, kubectl: Kubectl, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    victim = spec.workers[0].name
    before = _members(spec, spec.control_plane[0].name)
    wiped = on(spec, victim, "systemctl stop kubelet && rm -rf /var/lib/kubelet "
               "&& systemctl start kubelet || true", timeout=60)
    assert wiped.returncode == 0, wiped.stderr
    _take_back(env, victim, "kubelet state")
    _converged(spec, kubectl, env, victim, before)


def test_the_first_control_plane_node_that_lost_its_etcd_data(
        spec: ClusterSpec, kubectl: Kubectl, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    first, others = spec.control_plane[0].name, [h.name for h in spec.control_plane[1:]]
    before = _members(spec, others[0])
    wiped = on(spec, first, WIPE_ETCD, timeout=150)
    assert wiped.returncode == 0, wiped.stderr
    wait_for(f"{first}'s etcd to try", lambda: on(spec, first, "ls /var/lib/etcd/member")
             .returncode == 0, 90)
    assert not _alone(spec, first), f"{first}'s etcd started a cluster of its own"

    refused = kubeforge("deploy", env, timeout=900)
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert f"list it after {' and '.join(others)}" in refused.stdout, refused.stdout[-3000:]

    # the way out the message gives: the same spec with the first host listed last
    folder = Path(tempfile.mkdtemp(prefix="kubeforge-lost-"))
    try:
        source = paths.ROOT / "inventories" / env
        data = yaml.safe_load((source / "cluster.yml").read_text())
        absolute_paths(data, source)
        data["hosts"] = [h for h in data["hosts"] if h["name"] != first] + [
            h for h in data["hosts"] if h["name"] == first]
        (folder / "cluster.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        run = kubeforge("deploy", str(folder / "cluster.yml"), timeout=1800)
        assert run.returncode == 0, run.stdout[-4000:]
        print(f"{first} (etcd member) taken back and joined again in {run.took:.0f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # back to the spec as written: the endpoint's priorities follow the host order again
    again = kubeforge("deploy", env, timeout=900)
    assert again.returncode == 0, again.stdout[-4000:]
    _converged(spec, kubectl, env, first, before)
