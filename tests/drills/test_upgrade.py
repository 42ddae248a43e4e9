"""Drill: a minor-version upgrade under load. The environment is rebuilt at the previous minor
(a copy of its spec with that version: `kubeforge reset`, then `kubeforge deploy`), a test app
(2 replicas on different workers, a PodDisruptionBudget of minAvailable 1, a NodePort Service) is
polled from the control host through every node for the whole upgrade, then `kubeforge upgrade`
moves the cluster to the spec's version. Every node must run it and be Ready, no request may
fail, and a deploy afterwards must change nothing.

It takes the whole cluster down first: run it on a lab environment only (the `spec` fixture
refuses anything else). It ends with the cluster at the spec's version, add-ons included."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import paths, versions
from kubeforge.lab.ops import MIRROR_LISTEN
from kubeforge.spec import ClusterSpec, spec_path

from .conftest import Kubectl, wait_for
from .remote import absolute_paths, kubeforge, play_durations
from .watch import ClusterWatch, failure_windows

pytestmark = pytest.mark.lab

NS = "kubeforge-upgrade-drill"
APP = "upgrade-drill"
# the app answers with its pod name; a preStop pause keeps it serving while the endpoint
# removal reaches every node's kube-proxy (an evicted pod that stops at once drops requests)
SERVE = ("mkdir -p /www && busybox hostname > /www/index.html && "
         "exec busybox httpd -f -p 8080 -h /www")


def _previous_minor(version: str) -> str | None:
    """The newest supported release of the minor before `version`'s."""
    major, minor, _ = (int(p) for p in version.split("."))
    older = [r for r in versions.RELEASES.values() if r.minor == (major, minor - 1)]
    return max(older, key=lambda r: tuple(int(p) for p in r.kubernetes.split("."))).kubernetes \
        if older else None


@dataclass
class Load:
    """Requests sent round-robin to the app's NodePort on every node, from the control host."""

    targets: list[str]
    port: int
    total: int = 0
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        # no proxy: the lab's addresses are local to this host
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        i = 0
        while not self.stop.is_set():
            target = self.targets[i % len(self.targets)]
            i += 1
            try:
                with opener.open(f"http://{target}:{self.port}/", timeout=3) as resp:
                    body = resp.read().decode()
                    ok = resp.status == 200 and body.startswith(APP)
                    err = f"HTTP {resp.status} {body[:60]!r}"
            except OSError as e:
                ok, err = False, repr(e)
            self.total += 1
            if not ok:
                self.failures.append((time.monotonic(), target, err))
            time.sleep(0.1)


def _answers(target: str, port: int) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{target}:{port}/", timeout=3) as resp:
            return bool(resp.status == 200 and resp.read().decode().startswith(APP))
    except OSError:
        return False


def _manifest(image: str, replicas: int) -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {APP}, namespace: {NS}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {APP}}}}}
  template:
    metadata: {{labels: {{app: {APP}}}}}
    spec:
      terminationGracePeriodSeconds: 20
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector: {{matchLabels: {{app: {APP}}}}}
      containers:
        - name: web
          image: {image}
          command: [sh, -c, '{SERVE}']
          ports: [{{containerPort: 8080}}]
          readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
          lifecycle:
            preStop: {{exec: {{command: [busybox, sleep, "8"]}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {APP}, namespace: {NS}}}
spec:
  minAvailable: 1
  selector: {{matchLabels: {{app: {APP}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {APP}, namespace: {NS}}}
spec:
  type: NodePort
  selector: {{app: {APP}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def _nodes(kubectl: Kubectl) -> dict[str, tuple[str, bool, bool]]:
    """name -> (kubelet version, Ready, unschedulable)."""
    res = kubectl("get", "nodes", "-o", "json")
    if res.returncode != 0:
        print(f"kubectl get nodes: {res.stderr.strip()}")
        return {}
    out = {}
    for n in json.loads(res.stdout)["items"]:
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in n["status"]["conditions"])
        out[n["metadata"]["name"]] = (n["status"]["nodeInfo"]["kubeletVersion"], ready,
                                      bool(n["spec"].get("unschedulable")))
    return out


def _all_at(kubectl: Kubectl, spec: ClusterSpec, version: str) -> bool:
    nodes = _nodes(kubectl)
    return all(nodes.get(h.name, ("", False, True)) == (f"v{version}", True, False)
               for h in spec.hosts)


@pytest.fixture
def old_spec(spec: ClusterSpec, pytestconfig: pytest.Config, tmp_path: Path) -> Iterator[Path]:
    """A copy of the environment's spec at the previous minor version."""
    old = _previous_minor(spec.kubernetes.version)
    if old is None:
        pytest.skip(f"kubeforge supports no release of the minor before {spec.kubernetes.version}")
    source = spec_path(str(pytestconfig.getoption("env")))
    data: dict[str, Any] = yaml.safe_load(source.read_text())
    absolute_paths(data, source.parent)
    data.setdefault("kubernetes", {})["version"] = old
    # the lab's mirror holds the default release only: the upgrade source is built on first use
    # (cached by version), then served, which pushes its images to the running registry
    assert kubeforge("mirror", "build", "--release", old, timeout=5400).returncode == 0, \
        f"building the mirror for {old} failed"
    assert kubeforge("mirror", "serve", "--listen", MIRROR_LISTEN, timeout=900).returncode == 0, \
        f"serving the mirror with {old} failed"
    env = tmp_path / "old"
    env.mkdir()
    (env / "cluster.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    yield env / "cluster.yml"


def test_upgrade_under_load(spec: ClusterSpec, pytestconfig: pytest.Config, old_spec: Path,
                            kubectl_bin: Path) -> None:
    env = str(pytestconfig.getoption("env"))
    # the cluster is rebuilt first: its admin kubeconfig need not exist yet
    kubeconfig = paths.ROOT / ".cache" / spec.name / "admin.conf"

    def kubectl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kubectl_bin), "--kubeconfig", str(kubeconfig),
                               f"--request-timeout={int(timeout)}s", *args],
                              capture_output=True, text=True, timeout=timeout + 5, check=False)

    new = spec.kubernetes.version
    old = str(yaml.safe_load(old_spec.read_text())["kubernetes"]["version"])
    started = time.monotonic()
    figures: list[tuple[str, float]] = []
    done = False
    try:
        # 1. the environment, rebuilt at the previous minor
        t = time.monotonic()
        rc = kubeforge("reset", str(old_spec), timeout=900).returncode
        assert rc == 0, "kubeforge reset failed"
        figures.append(("reset", time.monotonic() - t))
        t = time.monotonic()
        rc = kubeforge("deploy", str(old_spec), timeout=2400).returncode
        assert rc == 0, f"deploying {old} failed"
        figures.append((f"deploy {old}", time.monotonic() - t))
        assert wait_for(f"every node Ready at {old}", lambda: _all_at(kubectl, spec, old), 300)

        # 2. a deploy of the spec must not upgrade by accident
        t = time.monotonic()
        refused = kubeforge("deploy", env, timeout=600)
        assert refused.returncode != 0 and "kubeforge upgrade" in refused.stdout, \
            "a deploy at another version must refuse"
        assert _all_at(kubectl, spec, old), "the refused deploy changed a node"
        figures.append(("refused deploy", time.monotonic() - t))

        # 3. the app, and the load through every node
        workers = [h for h in spec.hosts if h.is_worker and not h.is_control_plane]
        replicas = min(2, len(workers))
        assert replicas >= 1, "the drill needs a worker"
        image = versions.image_ref(versions.RELEASES[old], "netcheck")
        apply = subprocess.run([str(kubectl_bin), "--kubeconfig", str(kubeconfig), "apply",
                                "-f", "-"], input=_manifest(image, replicas), text=True,
                               capture_output=True, check=False, timeout=60)
        assert apply.returncode == 0, apply.stderr
        res = kubectl("-n", NS, "rollout", "status", f"deployment/{APP}", "--timeout=180s",
                      timeout=190)
        assert res.returncode == 0, res.stderr
        port = int(kubectl("-n", NS, "get", "service", APP, "-o",
                           "jsonpath={.spec.ports[0].nodePort}").stdout)
        # kube-proxy programs a new NodePort on each node within a few seconds: the load starts
        # once every node has answered, so that it measures the upgrade and nothing before it
        for address in [str(h.address) for h in spec.hosts]:
            assert wait_for(f"the app through {address}:{port}",
                            partial(_answers, address, port), 60)
        load = Load([str(h.address) for h in spec.hosts], port)
        watch = ClusterWatch(kubectl, NS, APP)
        threads = [threading.Thread(target=job, daemon=True) for job in (load.run, watch.run)]
        for thread in threads:
            thread.start()
        time.sleep(5)
        assert load.total > 0 and not load.failures, f"the app does not answer: {load.failures}"

        # 4. the upgrade, under load
        t = time.monotonic()
        try:
            run = kubeforge("upgrade", env, timeout=3600)
            upgrade_end = time.monotonic()
        finally:
            time.sleep(5)
            load.stop.set()
            watch.stop.set()
            for thread in threads:
                thread.join(10)
        figures.append((f"upgrade {old} -> {new}", upgrade_end - t))
        assert run.returncode == 0, "kubeforge upgrade failed"
        assert wait_for(f"every node Ready at {new}", lambda: _all_at(kubectl, spec, new), 120)
        server = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
        assert server["gitVersion"] == f"v{new}"
        done = True

        phases = play_durations(run, upgrade_end)
        print(f"\nupgrade {old} -> {new}, per play:")
        for name, secs in phases:
            print(f"  {secs:7.1f}s  {name}")
        print(f"\nrequests through the upgrade: {len(load.failures)} failed of {load.total}")
        windows = failure_windows(load.failures)
        for w in windows:
            phase = next((n for (s, n) in reversed(run.plays) if s <= w.start), "before")
            print(f"  +{w.start - t:6.1f}s to +{w.end - t:6.1f}s {w.target}: {w.count} x "
                  f"{w.error} (during: {phase})")
        if windows:
            print("the Service's ready endpoints and the kube-proxy pods around them:")
            for when, what, value in watch.around(windows[0].start,
                                                  max(w.end for w in windows)):
                print(f"  +{when - t:6.1f}s {what}: {value}")
        assert not load.failures, (f"{len(load.failures)} of {load.total} requests failed "
                                   "during the upgrade")

        # 5. converged: the upgrade and a deploy both have nothing left to do
        t = time.monotonic()
        again = kubeforge("upgrade", env, timeout=900)
        assert again.returncode == 0 and "Nothing to do" in again.stdout
        figures.append(("upgrade again (no-op)", time.monotonic() - t))
        t = time.monotonic()
        rc = kubeforge("deploy", env, "--expect-no-changes", timeout=1800).returncode
        assert rc == 0, "a deploy after the upgrade changed something (or failed)"
        figures.append(("deploy (changed=0)", time.monotonic() - t))
    finally:
        kubectl("delete", "namespace", NS, "--wait=false")
        # leave the environment at its spec's version for the drills that follow: resume the
        # upgrade, or rebuild when there is nothing to resume
        if not done and kubeforge("upgrade", env, timeout=3600).returncode != 0:
            kubeforge("reset", env, timeout=900)
            kubeforge("deploy", env, timeout=2400)
        figures.append(("total", time.monotonic() - started))
        print("\ndurations:")
        for name, secs in figures:
            print(f"  {secs:7.1f}s  {name}")

