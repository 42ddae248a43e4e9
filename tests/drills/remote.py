"""Shell commands on lab machines and the kubeforge CLI, for the drills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


@dataclass
class Run:
    """One kubeforge CLI run: exit code, output (stdout and stderr), seconds, and when each
    play started (monotonic time, play name; a serial play starts once per batch)."""

    returncode: int
    stdout: str
    took: float
    plays: list[tuple[float, str]] = field(default_factory=list)


def kubeforge(*args: str, timeout: float = 1200, log: Path | None = None,
              env: dict[str, str] | None = None) -> Run:
    """Run the kubeforge CLI (from this virtualenv). Its output goes to `log` (a temporary file
    by default, named up front so a long run can be followed with tail -f) as it comes."""
    # a deploy asks before it changes anything, unless told --yes: these runs have no terminal
    cmd = [str(Path(sys.executable).parent / "kubeforge"), *args,
           *(["--yes"] if args[0] == "deploy" else [])]
    if log is None:
        with tempfile.NamedTemporaryFile(prefix=f"kubeforge-{args[0]}-", suffix=".log",
                                         delete=False) as tmp:
            log = Path(tmp.name)
    print(f"$ kubeforge {' '.join(args)} (output: {log})", flush=True)
    started = time.monotonic()
    deadline = started + timeout
    out: list[str] = []
    plays: list[tuple[float, str]] = []
    with log.open("w") as sink, subprocess.Popen(
            cmd, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1, env={**os.environ, **(env or {})}) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            sink.write(line)
            if line.startswith("PLAY [") and not line.startswith("PLAY RECAP"):
                plays.append((time.monotonic(), line[6:line.find("]")]))
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"kubeforge {' '.join(args)} ran longer than {timeout:.0f}s")
        rc = proc.wait()
    run = Run(rc, "".join(out), time.monotonic() - started, plays)
    print(f"$ kubeforge {args[0]} -> rc {rc} in {run.took:.0f}s", flush=True)
    return run


def play_durations(run: Run, end: float) -> list[tuple[str, float]]:
    """Seconds per play start of `run`, the last one ending at `end`."""
    bounds = [*run.plays, (end, "")]
    return [(name, bounds[i + 1][0] - t) for i, (t, name) in enumerate(run.plays)]


def absolute_paths(data: dict[str, Any], base: Path) -> None:
    """Make the relative paths of spec `data` (read from folder `base`) absolute, so a copy of
    the spec elsewhere means the same files."""
    def fix(value: str) -> str:
        return value if value.startswith(("/", "~", "$")) else str((base / value).resolve())

    for holder in (data.get("ssh") or {}, data.get("mirrors") or {},
                   *[(h.get("ssh") or {}) for h in data.get("hosts", [])]):
        for key in ("key", "known_hosts", "checksums_file"):
            if isinstance(holder.get(key), str):
                holder[key] = fix(holder[key])
    for issuer in (data.get("cert_manager") or {}).get("issuers", []):
        acme = issuer.get("acme") or {}
        if isinstance(acme.get("ca_bundle_file"), str):
            acme["ca_bundle_file"] = fix(acme["ca_bundle_file"])
    for rel in data.get("releases", []):
        if "path" in rel.get("source", {}):
            rel["source"]["path"] = fix(rel["source"]["path"])
        rel["values_files"] = [fix(f) for f in rel.get("values_files", [])]


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
