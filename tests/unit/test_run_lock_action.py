"""The node run lock (kubeforge.cluster.run_lock): its shell commands run here against a lock
file in a temporary folder, and the control host's judgement of a holder."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest
from conftest import action_plugin


@pytest.fixture(scope="module")
def lock() -> ModuleType:
    return action_plugin("run_lock")


def _sh(cmd: str) -> str:
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    return proc.stdout


def _line(lock: ModuleType, command: str, pid: int | None = None) -> str:
    return json.dumps(lock.holder(command, pid), sort_keys=True)


def test_the_first_run_gets_the_lock_and_a_second_sees_the_holder(
        lock: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "run" / "run.lock")
    mine = _line(lock, "kubeforge deploy lab")
    assert lock.parse_held(_sh(lock.acquire_cmd(mine, path))) is None
    assert Path(path).read_text() == mine + "\n"
    other = lock.parse_held(_sh(lock.acquire_cmd(_line(lock, "kubeforge scale lab"), path)))
    assert other == json.loads(mine)
    assert "`kubeforge deploy lab` from" in lock.describe(other)


def test_release_removes_only_this_runs_lock(lock: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "run.lock")
    mine, theirs = _line(lock, "kubeforge deploy lab"), _line(lock, "kubeforge upgrade lab")
    _sh(lock.acquire_cmd(theirs, path))
    _sh(lock.release_cmd(mine, path))
    assert Path(path).read_text() == theirs + "\n"
    _sh(lock.release_cmd(theirs, path))
    assert not Path(path).exists()


def test_a_line_with_quotes_and_spaces_survives_the_shell(lock: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "run.lock")
    odd = _line(lock, "kubeforge deploy 'my env' -e \"x=$(reboot)\"")
    _sh(lock.acquire_cmd(odd, path))
    assert Path(path).read_text() == odd + "\n"
    assert lock.parse_held(_sh(lock.acquire_cmd("other", path))) == json.loads(odd)


def test_this_process_is_alive_and_an_ended_one_is_not(lock: ModuleType) -> None:
    me = lock.holder("x", os.getpid())
    assert lock.alive_here(me)
    proc = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    ended = dict(me, pid=int(proc.stdout))
    assert not lock.alive_here(ended)
    # the same pid, reused by a later process: its start differs
    assert not lock.alive_here(dict(me, started="1"))


def test_another_machines_run_counts_as_alive(lock: ModuleType) -> None:
    assert lock.alive_here({"host": "some-other-control-host", "pid": 1})


def test_an_unreadable_lock_is_reported_not_parsed(lock: ModuleType) -> None:
    assert lock.parse_held("held garbage here") == {"command": "garbage here"}
    assert lock.parse_held("acquired\n") is None


def test_taking_over_replaces_the_holder(lock: ModuleType, tmp_path: Path) -> None:
    path = str(tmp_path / "run.lock")
    _sh(lock.acquire_cmd("stale", path))
    assert _sh(lock.take_cmd("mine", path)).strip() == "acquired"
    assert Path(path).read_text() == "mine\n"


def test_the_refusal_names_the_holder_and_the_fix(lock: ModuleType) -> None:
    other = {"host": "ops-laptop", "pid": 4242, "user": "alice", "command": "kubeforge scale prod",
             "since": "2026-12-06 09:00:00"}
    msg = lock.busy("w2", other)
    assert msg.startswith("w2 is busy: `kubeforge scale prod` from ops-laptop (pid 4242, alice)")
    assert "since 2026-12-06 09:00:00" in msg and "rm /run/kubeforge/run.lock" in msg


def test_only_an_ended_run_of_this_host_counts_as_ended(lock: ModuleType) -> None:
    me = lock.holder("kubeforge deploy lab", os.getpid())
    assert not lock.ended_here(me)  # alive
    proc = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    assert lock.ended_here(dict(me, pid=int(proc.stdout)))
    assert not lock.ended_here(dict(me, pid=int(proc.stdout), host="another-control-host"))
    assert not lock.ended_here(lock.parse_held("held garbage"))  # unreadable: no host


def test_the_ended_runs_own_line_releases_its_lock(lock: ModuleType, tmp_path: Path) -> None:
    # the action re-serialises the holder it parsed; that must match the line the run wrote
    path = str(tmp_path / "run.lock")
    written = _line(lock, "kubeforge deploy 'my env'", os.getpid())
    _sh(lock.acquire_cmd(written, path))
    parsed = lock.parse_held("held " + Path(path).read_text())
    _sh(lock.release_cmd(json.dumps(parsed, sort_keys=True), path))
    assert not Path(path).exists()


def test_a_killed_run_not_yet_reaped_has_ended(lock: ModuleType) -> None:
    """A run killed with SIGKILL stays a zombie until its parent reaps it: the next run must not
    be refused for it."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        running = lock.holder("x", child.pid)
        assert lock.alive_here(running)
        child.kill()
        for _ in range(50):  # not reaped: a zombie once the kill lands
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.05)
        assert not lock.alive_here(running)
    finally:
        child.wait()
