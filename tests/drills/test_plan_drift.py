"""Drill: `kubeforge plan` reports drift, exactly. On a converged cluster it finds nothing (exit 0);
after six kinds of changes made by hand outside kubeforge (a managed file edited, a binary
removed, a service stopped, a kubelet flag added, a Helm release upgraded, another uninstalled)
it lists those and their consequences and nothing else (exit 2); `deploy --yes` repairs them and
the next plan is empty again. Prints the plan's time next to a no-op deploy's. Then a node and an
etcd member added by hand, which a deploy leaves alone, are reported as outside the spec, and a
worker that is powered off is reported as not answering (exit 1), not guessed."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

import pytest

from kubeforge import addons, lab
from kubeforge.spec import ClusterSpec
from kubeforge.status import ETCDCTL

from .conftest import Kubectl, wait_for
from .remote import kubeforge, not_ready_nodes, on

pytestmark = pytest.mark.lab

CHARTS = "/var/lib/kubeforge/addons/charts"
HELM = "helm --kubeconfig /etc/kubernetes/admin.conf"
DROP_IN = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
# a Node object with no kubelet behind it, and an etcd learner that never starts (a learner does
# not count for quorum): what `kubectl`/`etcdctl member add` by hand leave in the cluster
HAND_NODE = "joined-by-hand"
HAND_PEER = "https://192.0.2.1:2380"  # TEST-NET-1: nothing answers there


def _plan(env: str) -> tuple[int, dict[str, Any], float]:
    t = time.monotonic()
    run = kubeforge("plan", env, "--json", timeout=600)
    took = time.monotonic() - t
    text = run.stdout[run.stdout.index("{\n"):]  # the JSON after the progress lines
    return run.returncode, json.loads(text), took


def _by_host(plan: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for c in plan["changes"]:
        out.setdefault(c["host"], set()).add((c["kind"], c["what"]))
    return out


def _release(r: addons.PlannedRelease, verb: str) -> str:
    return f"{r.namespace}/{r.name}: {verb} {' '.join(x for x in (r.chart, r.version) if x)}"


def _sh(spec: ClusterSpec, host: str, command: str) -> None:
    res = on(spec, host, command, timeout=120)
    assert res.returncode == 0, f"{host}: {command}: {res.stderr}"


def test_plan_lists_what_was_changed_by_hand_and_deploy_repairs_it(
        spec: ClusterSpec, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    w1, w2 = (h.name for h in spec.workers[:2])
    cp1 = spec.control_plane[0].name
    local = [r for r in addons.expand(spec) if r.path]
    upgraded, removed = local[-1], local[-2]

    t = time.monotonic()
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    noop_took = time.monotonic() - t
    assert noop.returncode == 0, noop.stdout[-3000:]
    rc, clean, took = _plan(env)
    print(f"plan of the converged cluster: {took:.1f} s (no-op deploy: {noop_took:.1f} s)")
    assert (rc, clean["summary"], clean["changes"]) == (0, "Plan: nothing to do.", [])

    _sh(spec, w1, "echo '# edited by hand' >> /etc/containerd/config.toml")
    _sh(spec, w1, "rm /usr/local/bin/crictl")
    _sh(spec, w2, "systemctl stop kubelet")
    _sh(spec, w2, f"sed -i 's|^\\(ExecStart=/usr/local/bin/kubelet .*\\)$|\\1 --v=4|' {DROP_IN}")
    _sh(spec, cp1, f"{HELM} upgrade {upgraded.name} {CHARTS}/{upgraded.namespace}-"
                   f"{upgraded.name} -n {upgraded.namespace} --reuse-values --set byhand=1")
    _sh(spec, cp1, f"{HELM} uninstall {removed.name} -n {removed.namespace}")

    rc, drift, took = _plan(env)
    print(f"plan after six changes by hand: {took:.1f} s, exit {rc}: {drift['summary']}")
    assert rc == 2 and drift["exit_code"] == 2
    found = _by_host(drift)
    # each change by hand, and what the deploy does about it (a restart after a file)
    assert found == {
        w1: {("file", "/etc/containerd/config.toml"),
             ("binary", "Install containerd, runc, the CNI plugins and crictl from the mirror"),
             ("service", "Restart containerd"), ("command", "Test containerd configuration")},
        w2: {("file", DROP_IN), ("service", "Restart kubelet"),
             ("service", "Start the kubelet (configured by kubeadm, not running)")},
        cp1: {("release", _release(upgraded, "upgrade")),
              ("release", _release(removed, "install"))},
    }, json.dumps(drift["changes"], indent=1)
    byhand = next(c["diff"] for c in drift["changes"] if c["what"] == _release(upgraded, "upgrade"))
    assert "-byhand: 1" in byhand, byhand  # the values diff, against what was declared
    diff = next(c["diff"] for c in drift["changes"] if c["what"] == DROP_IN)
    assert "-ExecStart=/usr/local/bin/kubelet" in diff and "--v=4" in diff

    repaired = kubeforge("deploy", env, timeout=1800)
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    rc, after, _ = _plan(env)
    assert (rc, after["changes"]) == (0, []), json.dumps(after, indent=1)


def test_plan_reports_a_node_and_an_etcd_member_outside_the_spec(
        spec: ClusterSpec, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    cp1 = spec.control_plane[0].name
    node = json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": HAND_NODE, "labels": {"kubernetes.io/hostname": HAND_NODE}}})
    _sh(spec, cp1, f"echo {shlex.quote(node)} | {KUBECTL} create -f -")
    try:
        _sh(spec, cp1, f"{ETCDCTL} member add by-hand --learner --peer-urls={HAND_PEER}")
        rc, plan, took = _plan(env)
        print(f"plan with a node and a member outside the spec: {took:.1f} s, exit {rc}: "
              f"{plan['summary']}")
        assert (rc, plan["changes"]) == (2, []), json.dumps(plan, indent=1)
        outside = plan["outside"]
        assert len(outside) == 2, outside
        assert outside[0].startswith(f"node {HAND_NODE}: in the cluster, not in the spec"), outside
        assert outside[1].startswith("etcd member (unstarted ") and HAND_PEER in outside[1], outside
        assert "2 members of the cluster outside the spec" in plan["summary"], plan["summary"]
    finally:
        _sh(spec, cp1, f"{KUBECTL} delete node {HAND_NODE} --ignore-not-found")
        _sh(spec, cp1, f"id=$({ETCDCTL} member list | grep -F {HAND_PEER} | cut -d, -f1); "
                       f"[ -z \"$id\" ] || {ETCDCTL} member remove \"$id\"")
    rc, after, _ = _plan(env)
    assert (rc, after["outside"], after["changes"]) == (0, [], []), json.dumps(after, indent=1)


def test_plan_reports_a_host_that_does_not_answer(
        spec: ClusterSpec, pytestconfig: pytest.Config, kubectl: Kubectl) -> None:
    env = str(pytestconfig.getoption("env"))
    down = spec.workers[-1].name
    lab.stop_machine(spec, down)
    try:
        rc, plan, took = _plan(env)
        print(f"plan with {down} powered off: {took:.1f} s, exit {rc}: {plan['summary']}")
        assert rc == 1 and list(plan["unreachable"]) == [down], json.dumps(plan, indent=1)
        assert "Incomplete: 1 host did not answer" in plan["summary"]
        assert all(c["host"] != down for c in plan["changes"]), "nothing is guessed for it"
    finally:
        lab.start_machine(spec, down)
    wait_for(f"{down} Ready again", lambda: not_ready_nodes(kubectl) == [], 300, interval=5)
