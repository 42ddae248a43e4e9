"""Shell commands on lab machines and the kubeforge CLI, for the drills."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeforge import paths
from kubeforge.lab.ops import as_plan
from kubeforge.lab.ssh import ssh_argv
from kubeforge.spec import ClusterSpec

from .conftest import Kubectl


def on(spec: ClusterSpec, host: str, command: str, timeout: float = 30,
       ) -> subprocess.CompletedProcess[str]:
    """Run `command` (a shell line) on lab machine `host` as root."""
    plan = as_plan(spec)
    return subprocess.run(ssh_argv(plan, plan.machine(host), [command]), capture_output=True,
                          text=True, timeout=timeout, check=False)


def kubeforge(*args: str, timeout: float = 1200) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the kubeforge CLI (from this virtualenv); returns the result and its duration."""
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "kubeforge"), *args],
                          cwd=paths.ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return proc, time.monotonic() - started


def env_arg(pytestconfig: pytest.Config) -> str:
    """The --env value as the CLI takes it (a name or a spec path)."""
    return str(pytestconfig.getoption("env"))


def not_ready_nodes(kubectl: Kubectl) -> list[str] | None:
    """Names of the nodes that are not Ready; None while the API does not answer."""
    res = kubectl("get", "nodes", "-o", "json")
    if res.returncode != 0:
        return None
    bad = []
    for node in json.loads(res.stdout)["items"]:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        if not ready or ready[0]["status"] != "True":
            bad.append(node["metadata"]["name"])
    return bad


def not_running_system_pods(kubectl: Kubectl) -> list[str] | None:
    """kube-system pods that are not Running; None while the API does not answer. Containers
    that are running but not ready are printed, not counted: on a saturated host the static
    pods' probes time out now and then without anything being wrong."""
    res = kubectl("-n", "kube-system", "get", "pods", "-o", "json")
    if res.returncode != 0:
        return None
    bad, unready = [], []
    for pod in json.loads(res.stdout)["items"]:
        name, phase = pod["metadata"]["name"], pod["status"].get("phase")
        if phase != "Running":
            bad.append(f"{name} ({phase})")
        elif not all(s["ready"] for s in pod["status"].get("containerStatuses", [])):
            unready.append(name)
    if unready:
        print(f"running but not ready right now: {', '.join(unready)}")
    return bad


def healthy(kubectl: Kubectl) -> bool:
    """Every node Ready and every kube-system pod Running and ready."""
    nodes, pods = not_ready_nodes(kubectl), not_running_system_pods(kubectl)
    if nodes is None or pods is None or nodes or pods:
        print(f"not healthy yet: nodes not Ready {nodes}, kube-system pods {pods}")
        return False
    return True
