"""Drill: the nodes' run lock. Runs give every lock back (a failed one through the CLI); a lock
on one node that names a run from another control host makes `kubeforge deploy` stop at once,
naming the holder and the fix, before it changes anything or takes a lock; a lock left by an
ended run of this control host is taken over."""

from __future__ import annotations

import json
import socket

import pytest

from kubeforge.spec import ClusterSpec

from .remote import kubeforge, on

pytestmark = pytest.mark.lab

LOCK = "/run/kubeforge/run.lock"


def _put(spec: ClusterSpec, host: str, holder: dict[str, object]) -> None:
    line = json.dumps(holder, sort_keys=True).replace("'", "'\\''")
    res = on(spec, host, f"mkdir -p /run/kubeforge && printf '%s\\n' '{line}' > {LOCK}")
    assert res.returncode == 0, res.stderr


def _locks(spec: ClusterSpec) -> dict[str, str]:
    out = {}
    for h in spec.hosts:
        res = on(spec, h.name, f"cat {LOCK} 2>/dev/null; true")
        if res.stdout.strip():
            out[h.name] = res.stdout.strip()
    return out


def test_a_busy_node_stops_the_deploy_and_a_stale_lock_is_taken_over(
        spec: ClusterSpec, pytestconfig: pytest.Config) -> None:
    env = str(pytestconfig.getoption("env"))
    node = spec.hosts[-1].name
    # every run before gave its locks back, the failed ones too (in CI, the cgroup drill's
    # refused deploy: the CLI releases what a failed run kept)
    assert not _locks(spec), "no run left a lock behind"

    other = {"host": "ops-laptop", "pid": 4242, "user": "alice",
             "command": "kubeforge upgrade prod", "since": "2026-12-06 09:00:00", "started": "1"}
    _put(spec, node, other)
    busy = kubeforge("deploy", env, timeout=300)
    print(f"refused in {busy.took:.0f} s")
    assert busy.returncode != 0, "a deploy must not run beside another run's lock"
    assert f"{node} is busy: `kubeforge upgrade prod` from ops-laptop (pid 4242, alice)" \
        in busy.stdout, busy.stdout[-2000:]
    assert f"rm {LOCK}" in busy.stdout and "Nothing was changed" in busy.stdout
    assert "changed: [" not in busy.stdout, "nothing may change on a busy cluster"
    left = _locks(spec)
    assert json.loads(left.pop(node)) == other, "another run's lock is never removed"
    assert not left, f"a refused run takes no lock: {sorted(left)}"

    # the same holder, but a run of this control host that has ended (no such process here)
    _put(spec, node, dict(other, host=socket.gethostname(), pid=2**22 + 1))
    deploy = kubeforge("deploy", env, "--expect-no-changes", timeout=900)
    assert deploy.returncode == 0, deploy.stdout[-3000:]
    assert f"{node}: took over the run lock of an ended run" in deploy.stdout
    assert not _locks(spec), "the deploy gives back every node's lock"
