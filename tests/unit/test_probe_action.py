"""kubeforge.cluster.probe: its one shell command run for real on this host, and the comparison."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import action_plugin


def _action() -> ModuleType:
    return action_plugin("probe")


probe = _action()


def run(wanted: dict[str, Any], db: Path | None = None) -> dict[str, Any]:
    """normalize, the script run by sh on this host (as the connection would), the result."""
    w = probe.normalize(wanted)
    cmd = probe.script(w)
    if db is not None:
        cmd = cmd.replace(probe.SUMS_DB, str(db))
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    result: dict[str, Any] = probe.result(w, proc.stdout)
    return result


def owner(path: Path) -> str:
    st = path.stat()
    import grp
    import pwd
    return f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a.conf").write_text("a = 1\n")
    (tmp_path / "etc" / "a.conf").chmod(0o644)
    (tmp_path / "empty").write_text("")
    (tmp_path / "empty").chmod(0o600)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_bytes(b"\x7fELF tool")
    (tmp_path / "bin" / "tool").chmod(0o755)
    os.symlink(tmp_path / "bin" / "tool", tmp_path / "tool")
    return tmp_path


def test_converged_state_has_nothing_pending(tree: Path) -> None:
    me = owner(tree / "etc")
    out = run({
        "files": [
            {"path": str(tree / "etc/a.conf"), "content": "a = 1\n", "owner": me,
             "step": "configure"},
            {"path": str(tree / "empty"), "content": "", "mode": "0600", "owner": me,
             "step": "configure"},
            {"path": str(tree / "bin/tool"), "mode": "0755", "owner": me, "step": "install",
             "sha256": hashlib.sha256(b"\x7fELF tool").hexdigest()}],
        "dirs": [{"path": str(tree / "etc"), "mode": f"{(tree / 'etc').stat().st_mode & 0o777:o}",
                  "owner": me, "step": "install"}],
        "links": [{"path": str(tree / "tool"), "target": str(tree / "bin/tool"),
                   "step": "install"}],
        "sysctls": [{"key": "kernel.ostype", "value": "Linux", "step": "kernel"}],
        "packages": [{"name": "bash", "step": "packages"}],
    })
    assert out["pending"] == {"configure": False, "install": False, "kernel": False,
                              "packages": False}, out["differs"]
    assert out["changed"] is False


def test_each_kind_of_difference_is_named(tree: Path) -> None:
    me = owner(tree / "etc")
    (tree / "etc/a.conf").chmod(0o600)
    out = run({
        "files": [
            {"path": str(tree / "etc/a.conf"), "content": "a = 2\n", "owner": me,
             "step": "configure"},
            {"path": str(tree / "missing"), "sha256": "0" * 64, "step": "install"}],
        "dirs": [{"path": str(tree / "bin/tool"), "owner": me, "step": "dirs"}],
        "links": [{"path": str(tree / "tool"), "target": "/elsewhere", "step": "links"}],
        "services": [{"name": "kubeforge-no-such-unit", "active": True, "enabled": True,
                      "step": "start"}],
        "sysctls": [{"key": "kernel.ostype", "value": "Plan9", "step": "kernel"}],
        "packages": [{"name": "kubeforge-no-such-package", "step": "packages"}],
    })
    assert all(out["pending"].values())
    d = out["differs"]
    assert d["configure"] == [f"{tree}/etc/a.conf: 600 {me} regular file (want 644 {me} "
                              "regular file)", f"{tree}/etc/a.conf: content differs"]
    assert d["install"] == [f"{tree}/missing: missing"]
    assert d["dirs"] == [f"{tree}/bin/tool: 755 {me} regular file (want 755 {me} directory)"]
    assert d["links"] == [f"{tree}/tool: links to {tree}/bin/tool (want /elsewhere)"]
    assert d["start"][0].startswith("kubeforge-no-such-unit: active is ")
    assert len(d["start"]) == 2
    assert d["kernel"] == ["kernel.ostype = Linux (want Plan9)"]
    assert d["packages"] == ["package kubeforge-no-such-package: not installed"]


def test_recorded_digest_spares_the_read(tree: Path, tmp_path: Path) -> None:
    """A file whose size, ctime and inode match the sums database is not hashed again: the
    recorded digest is what counts (so a wrong record shows as a difference)."""
    tool = tree / "bin/tool"
    st = os.stat(tool)
    recorded = "f" * 64
    db = tmp_path / "sums"
    ctime = f"{st.st_ctime_ns // 10**9}.{st.st_ctime_ns % 10**9:09d}"
    db.write_text(f"{tool} {recorded} {st.st_size} {ctime} {st.st_ino}\n")
    wanted = {"files": [{"path": str(tool), "sha256": recorded, "mode": "0755",
                         "owner": owner(tool), "step": "install"}]}
    assert run(wanted, db)["pending"] == {"install": False}
    os.utime(tool)  # ctime moves: read again, and the real digest differs from the wanted one
    tool.chmod(0o755)
    assert run(wanted, db)["differs"]["install"] == [f"{tool}: content differs"]


def test_reads_commands_digests_and_service_state(tree: Path) -> None:
    out = run({"files": [{"path": str(tree / "etc/a.conf"), "digest": True, "owner": "x:y",
                          "step": "s"}],
               "reads": [str(tree / "etc/a.conf"), str(tree / "nothing")],
               "commands": {"count": "printf '2\\n3\\n'", "quiet": "false"},
               "services": [{"name": "kubeforge-no-such-unit", "step": "start"}]})
    assert out["contents"] == {str(tree / "etc/a.conf"): ["a = 1"], str(tree / "nothing"): []}
    assert out["outputs"] == {"count": ["2", "3"], "quiet": []}
    assert out["pending"] == {"start": False, "s": True}  # neither active nor enabled asked for
    assert out["sha256"] == {str(tree / "etc/a.conf"): hashlib.sha256(b"a = 1\n").hexdigest()}
    assert set(out["services"]) == {"kubeforge-no-such-unit"}


@pytest.mark.parametrize(("wanted", "message"), [
    ({"files": [{"path": "/etc/x"}]}, "needs a step"),
    ({"files": [{"step": "s"}]}, "needs a path"),
    ({"files": [{"path": "/etc/a b", "step": "s"}]}, "only letters"),
    ({"links": [{"path": "/x", "target": "$(reboot)", "step": "s"}]}, "link target"),
    ({"commands": {"a-b": "true"}}, "letters, digits and _ only"),
])
def test_bad_arguments_are_refused(wanted: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        probe.normalize(wanted)


def test_modes_as_text_or_numbers() -> None:
    w = probe.normalize({"files": [{"path": "/a", "mode": "0600", "step": "s"},
                                   {"path": "/b", "mode": 0o600, "step": "s"},
                                   {"path": "/c", "step": "s"}],
                         "dirs": [{"path": "/d", "step": "s"}]})
    assert [f["mode"] for f in w["files"] + w["dirs"]] == ["600", "600", "644", "755"]


def test_every_step_is_reported(tree: Path) -> None:
    """A step with nothing to compare yet is in `pending` (false), so a role can read any."""
    out = run({"dirs": [{"path": str(tree), "mode": f"{tree.stat().st_mode & 0o777:o}",
                         "owner": owner(tree), "step": "a"}]})
    assert out["pending"] == {"a": False}
    assert out["differs"] == {"a": []}
