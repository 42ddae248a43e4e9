"""Drill: replace control-plane nodes with `kubeforge replace-node`, under a read/write load
through the endpoint. Three replacements in a row on the deployed lab cluster, each with a copy of
the spec that lists the new host in the old one's place (so the spec validates throughout):

1. a healthy control-plane node: the new one joins first, then the old one is drained, removed
   from etcd and reset;
2. the first control-plane node (the one that ran kubeadm init) after its machine is powered off:
   dead, so it is removed first (nothing tries to reach it), then the new one joins; the new one
   listed first is refused before anything changes;
3. a node whose etcd data folder was wiped while the cluster ran: its member is down, so it is
   removed first (and reset, since it answers), then the new one joins.

Each time etcd ends with three healthy members, none of them the old node, the nodes are the
spec's and Ready, no write the API acknowledged is lost, and the next deploy reports changed=0.
Prints the time of each replacement and the load's figures.

It leaves the cluster on other machines than the spec's, so it ends by rebuilding the lab and
deploying it again (about 6 minutes)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import lab
from kubeforge.spec import ClusterSpec, load_spec, spec_path

from .conftest import Kubectl
from .remote import Run, absolute_paths, kubeforge, not_ready_nodes, on
from .test_lost_state import ETCDCTL, WIPE_ETCD
from .test_scale_remove import _free_addresses

pytestmark = pytest.mark.lab

NAMESPACE = "drill-replace"


@dataclass
class Load:
    """Writes a ConfigMap through the endpoint every `interval` seconds and reads the one
    before it; remembers the writes the API acknowledged."""

    kubectl: Kubectl
    interval: float = 0.5
    # each load its own names: the ConfigMaps of an earlier one are still there
    prefix: str = field(default_factory=lambda: f"w{time.monotonic_ns()}")
    acked: list[str] = field(default_factory=list)
    refused_at: list[float] = field(default_factory=list)  # monotonic times of refused writes
    errors: dict[str, int] = field(default_factory=dict)  # kubectl's last error line: count
    failed_writes: int = 0
    failed_reads: int = 0
    longest_gap: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        i, last_ok = 0, time.monotonic()
        while not self._stop.is_set():
            i += 1
            name = f"{self.prefix}-{i:06d}"
            res = self.kubectl("-n", NAMESPACE, "create", "configmap", name,
                               f"--from-literal=n={i}", timeout=10)
            now = time.monotonic()
            if res.returncode == 0:
                self.acked.append(name)
                self.longest_gap = max(self.longest_gap, now - last_ok)
                last_ok = now
            else:
                self.failed_writes += 1
                self.refused_at.append(now)
                why = (res.stderr.strip().splitlines() or ["(no message)"])[-1][:160]
                self.errors[why] = self.errors.get(why, 0) + 1
            if self.acked and self.kubectl("-n", NAMESPACE, "get", "configmap", self.acked[-1],
                                           "-o", "name", timeout=10).returncode != 0:
                self.failed_reads += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def lost(self) -> list[str]:
        res = self.kubectl("-n", NAMESPACE, "get", "configmaps", "-o", "name", timeout=60)
        assert res.returncode == 0, res.stderr
        present = {line.removeprefix("configmap/") for line in res.stdout.split()}
        return [name for name in self.acked if name not in present]

    def refusals_by_play(self, run: Run) -> str:
        """How many writes were refused during each play of `run`."""
        counts: dict[str, int] = {}
        for at in self.refused_at:
            started = [name for t, name in run.plays if t <= at]
            key = started[-1] if started else "before the first play"
            counts[key] = counts.get(key, 0) + 1
        top = sorted(self.errors.items(), key=lambda x: -x[1])[:3]
        why = "; ".join(f"{n}x {e}" for e, n in top)
        return ("; ".join(f"{n} during {play!r}" for play, n in counts.items()) or "none") + (
            f" (kubectl said: {why})" if why else "")

    def figures(self) -> str:
        return (f"{len(self.acked)} writes acknowledged, {self.failed_writes} refused, "
                f"{self.failed_reads} reads failed, longest time without a write "
                f"{self.longest_gap:.1f} s")


@dataclass
class Specs:
    """Copies of the lab's spec, one per replacement, that share a known_hosts file with every
    machine's key (the lab writes only its spec's machines into it)."""

    src: Path
    folder: Path
    known_hosts: Path
    made: list[ClusterSpec] = field(default_factory=list)

    def copy(self, name: str, hosts: list[dict[str, Any]]) -> tuple[ClusterSpec, str]:
        data: dict[str, Any] = yaml.safe_load(self.src.read_text())
        absolute_paths(data, self.src.parent)
        data["ssh"]["known_hosts"] = str(self.known_hosts)
        data["hosts"] = hosts
        env = self.folder / name
        env.mkdir()
        (env / "cluster.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        spec = load_spec(str(env / "cluster.yml"))
        keys = set(self.known_hosts.read_text().splitlines())
        lab.up(spec)
        self.known_hosts.write_text("\n".join(sorted(keys | set(
            self.known_hosts.read_text().splitlines()))) + "\n")
        self.made.append(spec)
        return spec, str(env / "cluster.yml")


@pytest.fixture
def specs(spec: ClusterSpec, tmp_path: Path, pytestconfig: pytest.Config,
          kubectl: Kubectl) -> Iterator[Specs]:
    src = spec_path(str(pytestconfig.getoption("env")))
    assert spec.ssh.known_hosts is not None
    known = tmp_path / "known_hosts"
    known.write_text(Path(spec.ssh.known_hosts).read_text())
    out = Specs(src, tmp_path, known)
    kubectl("create", "namespace", NAMESPACE)
    try:
        yield out
    finally:
        names = {h.name for h in spec.hosts}
        for s in out.made:
            for h in s.hosts:
                if h.name not in names:
                    lab.remove_machine(s, h.name)
        lab.down(spec)
        lab.up(spec)
        rebuilt = kubeforge("deploy", str(pytestconfig.getoption("env")), timeout=1800)
        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]


def _host(spec: ClusterSpec, name: str) -> dict[str, Any]:
    h = next(h for h in spec.hosts if h.name == name)
    return {"name": h.name, "address": str(h.address), "roles": list(h.roles)}


def _etcd(spec: ClusterSpec, via: str) -> tuple[list[str], bool]:
    """etcd's member names as `via` lists them, and whether every member is healthy."""
    members = on(spec, via, f"{ETCDCTL} member list -w json", timeout=60)
    assert members.returncode == 0, members.stderr
    health = on(spec, via, f"{ETCDCTL} endpoint health --cluster -w json", timeout=60)
    names = sorted(m.get("name", "") for m in json.loads(members.stdout)["members"])
    return names, health.returncode == 0


def _replace(spec: ClusterSpec, env: str, kubectl: Kubectl, old: str, new: str,
             *extra: str) -> float:
    with Load(kubectl) as load:
        run = kubeforge("replace-node", env, old, new, *extra, timeout=1800)
        time.sleep(5)
    assert run.returncode == 0, run.stdout[-4000:]
    print(f"{new} replaced {old} in {run.took:.0f} s; load: {load.figures()}; refused writes: "
          f"{load.refusals_by_play(run)}")
    assert load.lost() == [], "writes the API acknowledged are gone"
    assert len(load.acked) > 10, "the load ran"
    members, healthy = _etcd(spec, spec.control_plane[0].name)
    assert members == sorted(h.name for h in spec.control_plane), f"etcd members {members}"
    assert healthy, "every etcd member healthy"
    nodes = kubectl("get", "nodes", "-o", "name")
    assert sorted(nodes.stdout.split()) == sorted(f"node/{h.name}" for h in spec.hosts)
    assert not_ready_nodes(kubectl) == [], "every node Ready"
    noop = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    assert noop.returncode == 0, noop.stdout[-4000:]
    return run.took


def _reset(spec: ClusterSpec, host: str) -> bool:
    """Whether kubeadm reset ran on `host` (no static pod manifest, no kubelet configuration)."""
    res = on(spec, host, "ls /etc/kubernetes/manifests /var/lib/kubelet/config.yaml 2>/dev/null "
             "| grep -c yaml || true")
    return res.stdout.strip() == "0"


def test_replace_control_plane_nodes(spec: ClusterSpec, specs: Specs, kubectl: Kubectl) -> None:
    cp1, cp2, cp3 = (h.name for h in spec.control_plane)
    workers = [_host(spec, h.name) for h in spec.workers]
    new = dict(zip(("cp4", "cp5", "cp6"), _free_addresses(spec, 3), strict=True))
    assert not set(new) & {h.name for h in spec.hosts}

    def cp(name: str) -> dict[str, Any]:
        return {"name": name, "address": new[name], "roles": ["control_plane"]}

    # 1. healthy cp2, the new node in its place
    one, env1 = specs.copy("one", [_host(spec, cp1), cp("cp4"), _host(spec, cp3), *workers])
    took = {"healthy": _replace(one, env1, kubectl, cp2, "cp4")}
    assert _reset(spec, cp2), f"{cp2} was reset"
    lab.remove_machine(spec, cp2)

    # 2. cp1 (kubeadm init ran there) powered off; its replacement may not be listed first
    lab.stop_machine(one, cp1)
    first, env_first = specs.copy("first", [cp("cp5"), _host(one, "cp4"), _host(one, cp3),
                                            *workers])
    refused = kubeforge("replace-node", env_first, cp1, "cp5", timeout=600)
    assert refused.returncode != 0 and "listed first" in refused.stdout, refused.stdout[-3000:]
    members, _ = _etcd(first, "cp4")
    assert cp1 in members, "the refusal changed nothing"
    two, env2 = specs.copy("two", [_host(one, "cp4"), _host(one, cp3), cp("cp5"), *workers])
    took["dead first"] = _replace(two, env2, kubectl, cp1, "cp5", "--dead")

    # 3. cp3 loses its etcd data folder while the cluster runs
    wiped = on(two, cp3, WIPE_ETCD, timeout=150)
    assert wiped.returncode == 0, wiped.stderr
    three, env3 = specs.copy("three", [_host(two, "cp4"), _host(two, "cp5"), cp("cp6"), *workers])
    took["wiped etcd"] = _replace(three, env3, kubectl, cp3, "cp6")
    assert _reset(two, cp3), f"{cp3} was reset"
    print("replace-node: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()))
