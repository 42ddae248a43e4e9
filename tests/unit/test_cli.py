"""The CLI: exit codes scripts can rely on, messages instead of tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubeforge import paths, runner
from kubeforge.cli import main
from kubeforge.schema import schema_text


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeforge", *args], capture_output=True,
                          text=True, cwd=paths.ROOT)


def test_invalid_spec_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "cluster.yml"
    bad.write_text("name: x\nhosts: []\n")
    res = run("validate", str(bad))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "problem(s) in the cluster spec" in res.stderr


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "example-prod", "--no-file-checks"]) == 0
    assert "valid (6 hosts" in capsys.readouterr().out


def test_plan_summarises(lab_files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "lab", "--spec"]) == 0
    out = capsys.readouterr().out
    assert "Kubernetes 1.37.2" in out
    assert "10.240.0.100:6443" in out
    assert "tolerates 1 failure" in out
    assert "cp1" in out and "w2" in out


def test_plan_fails_without_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    assert main(["plan", "lab", "--spec"]) == 1  # plan's 2 means "changes pending"
    assert "kubeforge mirror build" in capsys.readouterr().err


def test_committed_schema_is_current() -> None:
    committed = (paths.inventories_dir() / "cluster.schema.json").read_text()
    fix = "run `kubeforge schema --output inventories/cluster.schema.json`"
    assert committed == schema_text(), fix
    schema = json.loads(committed)
    assert schema["additionalProperties"] is False
    assert "hosts" in schema["required"]


def test_deploy_flag_after_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeforge import runner

    seen: dict[str, object] = {}

    def fake(env: str, name: str, extra: list[str], expect_no_changes: bool = False) -> int:
        seen.update(env=env, extra=extra, expect=expect_no_changes)
        return 0

    monkeypatch.setattr(runner, "playbook", fake)
    assert main(["deploy", "lab", "--expect-no-changes", "--yes", "--diff"]) == 0
    assert seen == {"env": "lab", "extra": ["--diff"], "expect": True}


def test_deploy_without_a_terminal_asks_for_yes(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from kubeforge import runner

    monkeypatch.setattr(runner, "playbook", lambda *a, **k: pytest.fail("must not run"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["deploy", "lab"]) == 2
    err = capsys.readouterr().err
    assert "no terminal to ask on" in err and "kubeforge deploy lab --yes" in err


@pytest.mark.parametrize(("answer", "plan_exit", "runs"),
                         [("y", 2, True), ("", 2, False), ("n", 1, False), ("yes", 1, True)])
def test_deploy_on_a_terminal_shows_the_plan_and_asks(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str,
        plan_exit: int, runs: bool) -> None:
    from kubeforge import liveplan, runner

    ran: list[str] = []

    def playbook(env: str, *args: object, **kwargs: object) -> int:
        ran.append(env)
        return 0

    monkeypatch.setattr(runner, "playbook", playbook)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    change = liveplan.Change("w1", "containerd", "file", "/etc/containerd/config.toml")
    plan = liveplan.Plan([change], unreachable={"w2": "timeout"} if plan_exit == 1 else {})
    monkeypatch.setattr(runner, "read_plan", lambda env: plan)
    monkeypatch.setattr("builtins.input", lambda q: answer)
    assert main(["deploy", "lab"]) == (0 if runs else 1)
    assert ran == (["lab"] if runs else [])
    out = capsys.readouterr().out
    assert "files: /etc/containerd/config.toml" in out
    assert ("Nothing was changed." in out) != runs


@pytest.mark.parametrize("argv", [["certs", "--renew", "lab", "--check"],
                                  ["certs", "lab", "--renew", "--check"]])
def test_certs_renew_flag_on_either_side_of_env(monkeypatch: pytest.MonkeyPatch,
                                                argv: list[str]) -> None:
    from kubeforge import runner

    seen: dict[str, object] = {}

    def fake(env: str, name: str, extra: list[str], expect_no_changes: bool = False) -> int:
        seen.update(env=env, name=name, extra=extra)
        return 0

    monkeypatch.setattr(runner, "playbook", fake)
    assert main(argv) == 0
    assert seen == {"env": "lab", "name": "certs",
                    "extra": ["-e", "kubeforge_certs_renew=true", "--check"]}


def test_the_playbooks_that_change_nodes_take_the_run_lock() -> None:
    # after a failure of these, the CLI gives back the locks the run kept
    books = {p.stem for p in (paths.ROOT / "playbooks").glob("*.yml") if runner.takes_run_locks(p)}
    assert books == {"cluster", "scale", "upgrade", "remove-node", "replace-node"}


@pytest.mark.parametrize(("hosts", "forks"), [(1, "10"), (5, "10"), (43, "43"), (200, "64")])
def test_ansible_runs_one_fork_per_host_between_floor_and_ceiling(
        hosts: int, forks: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANSIBLE_FORKS", raising=False)
    assert runner.forks_env(hosts) == {"ANSIBLE_FORKS": forks}


def test_the_users_ansible_forks_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_FORKS", "7")
    assert runner.forks_env(43) == {}
