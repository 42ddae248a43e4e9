"""Drill: scale out by one worker and two control-plane nodes, remove them again, and check the
etcd quorum guard of remove-node.

A copy of the spec gets three extra hosts (free addresses of node_cidr) whose machines `lab.up`
creates. Two control-plane nodes, because the spec refuses an even control-plane count (3 -> 5).
`kubeforge scale` joins them while the members only get the new backends/peers in their
haproxy/keepalived (reloaded) and nothing else; `kubeforge remove-node` takes them out; then,
with one control-plane machine stopped, removing another control-plane node is refused and
changes nothing. The extra machines are deleted at the end, the stopped one is started again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import lab
from kubeforge.lab.ops import as_plan
from kubeforge.lab.ssh import ssh_argv
from kubeforge.spec import ClusterSpec, load_spec, spec_path

from .conftest import Kubectl, wait_for
from .remote import absolute_paths, kubeforge

pytestmark = pytest.mark.lab

NEW_WORKER, NEW_CPS = "drill-w", ("drill-cp1", "drill-cp2")
NEW = (NEW_WORKER, *NEW_CPS)
# Services of a member that scale must not restart (haproxy/keepalived may only reload)
SERVICES = ("containerd", "kubelet", "haproxy", "keepalived")
# The only roles allowed to change a member during scale: the endpoint gets the new control-plane
# node, the first control-plane node mints the join credentials, and every control-plane node's
# kubelet serving-certificate approver learns the new nodes' addresses
ALLOWED_ON_MEMBERS = {"apiserver_lb", "kubeadm_control_plane"}


def _on(spec: ClusterSpec, host: str, command: str) -> str:
    p = as_plan(spec)
    res = subprocess.run(ssh_argv(p, p.machine(host), [command]), capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, f"{host}: {command}: {res.stderr}"
    return res.stdout


def _changed(stdout: str) -> dict[str, int]:
    """The changed count per host from the runner's summary line."""
    for line in stdout.splitlines():
        if line.startswith("[kubeforge] changed="):
            inner = line.split("(", 1)[1].rstrip(")")
            return {h: int(n) for h, n in (x.split("=") for x in inner.split(", ") if x)}
    raise AssertionError("no changed= summary in the output")


def _nodes(kubectl: Kubectl) -> dict[str, bool]:
    """Node name -> Ready."""
    res = kubectl("get", "nodes", "-o", "json")
    assert res.returncode == 0, res.stderr
    out = {}
    for n in json.loads(res.stdout)["items"]:
        ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"]
        out[n["metadata"]["name"]] = bool(ready) and ready[0]["status"] == "True"
    return out


def _etcd_members(kubectl: Kubectl, via: str) -> list[str]:
    res = kubectl("-n", "kube-system", "exec", f"etcd-{via}", "--", "etcdctl",
                  "--endpoints", "https://127.0.0.1:2379",
                  "--cacert", "/etc/kubernetes/pki/etcd/ca.crt",
                  "--cert", "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
                  "--key", "/etc/kubernetes/pki/etcd/healthcheck-client.key",
                  "member", "list", "-w", "json", timeout=30)
    assert res.returncode == 0, res.stderr
    return sorted(m.get("name", "") for m in json.loads(res.stdout)["members"])


def _service_starts(spec: ClusterSpec, host: str) -> dict[str, str]:
    """When each service last (re)started; a reload keeps it."""
    out = _on(spec, host, "systemctl show -p Id -p ExecMainStartTimestampMonotonic "
              + " ".join(f"{s}.service" for s in SERVICES))
    starts, current = {}, ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key == "Id":
            current = value
        elif key == "ExecMainStartTimestampMonotonic":
            starts[current] = value
    return starts


def _free_addresses(spec: ClusterSpec, count: int) -> list[str]:
    """Free addresses from the top of node_cidr (hosts, VIP and gateway taken out)."""
    taken = {IPv4Address(str(h.address)) for h in spec.hosts}
    for extra in (spec.control_plane_endpoint.address, spec.lab.gateway if spec.lab else None):
        if extra:
            taken.add(IPv4Address(str(extra)))
    free = [a for a in reversed(list(spec.network.node_cidr.hosts())) if a not in taken]
    return [str(a) for a in free[:count]]


@pytest.fixture
def scaled_spec(spec: ClusterSpec, tmp_path: Path, pytestconfig: pytest.Config,
                ) -> Iterator[tuple[ClusterSpec, Path]]:
    """A copy of the spec with one more worker and two more control-plane nodes, their machines
    up; the machines are deleted again at the end (after removing the nodes, should the drill
    fail)."""
    src = spec_path(str(pytestconfig.getoption("env")))
    data: dict[str, Any] = yaml.safe_load(src.read_text())
    absolute_paths(data, src.parent)
    addresses = _free_addresses(spec, len(NEW))
    assert not set(NEW) & {h.name for h in spec.hosts}
    data["hosts"] = [*data["hosts"], *(
        {"name": name, "address": address,
         "roles": ["worker"] if name == NEW_WORKER else ["control_plane"]}
        for name, address in zip(NEW, addresses, strict=True))]
    env = tmp_path / "env"
    env.mkdir()
    spec_file = env / "cluster.yml"
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    copy = load_spec(str(spec_file))
    lab.up(copy)
    try:
        yield copy, spec_file
    finally:
        # a no-op after a passing drill; after a failure the nodes leave the cluster first, and
        # whatever failed is retried without its machine (etcd member and Node removed anyway)
        left = [name for name in NEW
                if kubeforge("remove-node", str(spec_file), name).returncode != 0]
        for name in NEW:
            lab.remove_machine(copy, name)
        for name in left:
            kubeforge("remove-node", str(spec_file), name)


def test_scale_out_and_in(spec: ClusterSpec, scaled_spec: tuple[ClusterSpec, Path],
                          kubectl: Kubectl, tmp_path: Path) -> None:
    copy, spec_file = scaled_spec
    first_cp = spec.control_plane[0].name
    members = [h.name for h in spec.hosts]
    cps_before = _etcd_members(kubectl, first_cp)
    starts_before = {h: _service_starts(spec, h) for h in members}

    # -- scale: both join, the members stay as they are --------------------------------------
    timings = tmp_path / "scale-timings.json"
    proc = kubeforge("scale", str(spec_file), env={"KUBEFORGE_TIMINGS": str(timings)},
                     timeout=3600)
    assert proc.returncode == 0, "scale failed"
    changed = _changed(proc.stdout)
    tasks = json.loads(timings.read_text())["tasks"]
    member_changes = {h: sorted({f"{t['role']}: {t['name']}" for t in tasks
                                 if t["hosts"].get(h, {}).get("status") == "changed"})
                      for h in members}
    print(f"scale of 1 worker + 2 control-plane nodes: {proc.took:.0f}s; changed per host "
          f"{changed}; changes on members: {member_changes}")
    for h in members:
        roles = {c.split(":")[0] for c in member_changes[h]}
        assert roles <= ALLOWED_ON_MEMBERS, f"{h} changed outside the endpoint: {member_changes[h]}"
        if h in {w.name for w in spec.workers}:
            assert changed.get(h, 0) == 0, f"worker {h} changed"
        if h != first_cp:
            # the only change: the approver's list of nodes whose serving certificates it signs
            assert all("serving-certificate approver" in c for c in member_changes[h]
                       if c.startswith("kubeadm_control_plane")), member_changes[h]
    for h in members:
        after = _service_starts(spec, h)
        restarted = [s for s, t in after.items() if starts_before[h].get(s) != t]
        assert not restarted, f"scale restarted {restarted} on member {h}"

    nodes = wait_for("the new nodes Ready", lambda: (n := _nodes(kubectl))
                     and all(n.get(name) for name in NEW) and n, 300, 5)
    assert all(nodes.values()), nodes
    assert set(NEW_CPS) <= set(_etcd_members(kubectl, first_cp))
    new_addr = {h.name: str(h.address) for h in copy.hosts if h.name in NEW}
    for cp_name in NEW_CPS:
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            res = kubectl("-n", "kube-system", "wait", "--for=condition=Ready",
                          f"pod/{component}-{cp_name}", "--timeout=120s", timeout=130)
            assert res.returncode == 0, f"{component} on {cp_name}: {res.stderr}"
        for cp in spec.control_plane:
            haproxy = _on(spec, cp.name, "cat /etc/haproxy/haproxy.cfg")
            assert f"server {cp_name} {new_addr[cp_name]}:" in haproxy
            assert new_addr[cp_name] in _on(spec, cp.name, "cat /etc/keepalived/keepalived.conf")

    # a second scale has nothing to do
    proc = kubeforge("scale", str(spec_file))
    assert proc.returncode == 0 and sum(_changed(proc.stdout).values()) == 0
    assert "nothing to join" in proc.stdout

    # -- remove both: back to the original cluster ---------------------------------------------
    removal: dict[str, float] = {}
    for name in NEW:
        proc = kubeforge("remove-node", str(spec_file), name)
        removal[name] = proc.took
        assert proc.returncode == 0, f"remove-node {name} failed"
        assert "delete it from the hosts of the spec" in proc.stdout
    print("removal: " + ", ".join(f"{n} {t:.0f}s" for n, t in removal.items()))
    assert _etcd_members(kubectl, first_cp) == cps_before
    nodes = _nodes(kubectl)
    assert sorted(nodes) == sorted(members) and all(nodes.values()), nodes
    for cp in spec.control_plane:
        haproxy = _on(spec, cp.name, "cat /etc/haproxy/haproxy.cfg")
        keepalived = _on(spec, cp.name, "cat /etc/keepalived/keepalived.conf")
        for cp_name in NEW_CPS:
            assert cp_name not in haproxy and new_addr[cp_name] not in keepalived
    ready = kubectl("get", "--raw", "/readyz")
    assert ready.returncode == 0 and ready.stdout.strip() == "ok"

    # a re-run finds the node gone and changes nothing
    proc = kubeforge("remove-node", str(spec_file), NEW_CPS[-1])
    assert proc.returncode == 0 and sum(_changed(proc.stdout).values()) == 0
    assert "not a cluster member any more" in proc.stdout


def test_quorum_guard_refuses(spec: ClusterSpec, kubectl: Kubectl, pytestconfig: pytest.Config,
                              ) -> None:
    cps = [h.name for h in spec.control_plane]
    if len(cps) < 3:
        pytest.skip("needs 3 control-plane nodes")
    env = str(pytestconfig.getoption("env"))
    down, target = cps[-1], cps[1]
    members_before = _etcd_members(kubectl, cps[0])

    proc = kubeforge("remove-node", env, "no-such-node")
    assert proc.returncode != 0 and all(h.name in proc.stdout for h in spec.hosts)

    lab.stop_machine(spec, down)
    try:
        proc = kubeforge("remove-node", env, target)
        print(f"refusal took {proc.took:.0f}s")
        assert proc.returncode != 0, "a removal that breaks quorum must be refused"
        assert f"Refusing to remove {target}" in proc.stdout
        assert f"{len(cps)} members, {len(cps) - 1} healthy" in proc.stdout
        assert f"{len(cps) - 1} members, {len(cps) - 2} healthy" in proc.stdout
        node = kubectl("get", "node", target, "-o", "json")
        assert node.returncode == 0, "the node must still exist"
        assert not json.loads(node.stdout)["spec"].get("unschedulable"), "it must not be cordoned"
        assert _etcd_members(kubectl, cps[0]) == members_before
    finally:
        lab.start_machine(spec, down)

    def healthy() -> bool:
        nodes = _nodes(kubectl)
        etcd = kubectl("-n", "kube-system", "wait", "--for=condition=Ready", f"pod/etcd-{down}",
                       f"pod/kube-apiserver-{down}", "--timeout=5s", timeout=15)
        return all(nodes.values()) and etcd.returncode == 0
    assert wait_for(f"{down} back and every node Ready", healthy, 300, 5)
