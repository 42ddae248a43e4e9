"""What the lab writes and runs, rendered without touching the host."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kubeforge.lab import cgroups, machine, rootfs, ssh
from kubeforge.lab.cli import register
from kubeforge.lab.model import LabPlan, load_plan

TEST_SPEC = Path(__file__).resolve().parents[1] / "lab" / "cluster.yml"

MOUNTINFO = """\
25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
35 25 0:31 / /mnt/elsewhere rw,relatime - cgroup cgroup rw,pids
"""


@pytest.fixture()
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabPlan:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    return load_plan(TEST_SPEC)


def test_hierarchies_from_mountinfo() -> None:
    found = {h.name: h.controller for h in cgroups.hierarchies(MOUNTINFO)}
    # Named and unified hierarchies get a subtree too, but only v1 controllers are mounted
    # writable inside the machine; mounts outside /sys/fs/cgroup are not ours to use.
    assert found == {"cpu": True, "memory": True, "systemd": False, "unified": False}


def test_nspawn_command(plan: LabPlan) -> None:
    m = plan.machine("t1")
    ctrls = [h for h in cgroups.hierarchies(MOUNTINFO) if h.controller]
    argv = machine.nspawn_argv(m, ctrls)
    assert argv[0] == "systemd-nspawn" and argv[-1] == machine.INIT
    for flag in ("--register=no", "--keep-unit", "--capability=all", "--link-journal=no"):
        assert flag in argv
    assert f"--directory={m.merged}" in argv
    assert "--network-namespace-path=/run/netns/kf-kftest-t1" in argv
    assert f"--bind={m.containerd_dir}:/var/lib/containerd" in argv
    assert "--bind=/sys/fs/cgroup/memory/kubeforge-kftest/t1:/run/kubeforge/cgroup/memory" in argv
    assert not any("systemd/kubeforge" in a for a in argv)
    assert machine.NSPAWN_ENV["SYSTEMD_NSPAWN_API_VFS_WRITABLE"] == "1"


def test_init_mounts_cgroups_then_becomes_systemd() -> None:
    lines = machine._INIT_SCRIPT.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert any('mount --bind "$src" "/sys/fs/cgroup/${src##*/}"' in ln for ln in lines)
    assert lines[-1] == 'exec /lib/systemd/systemd "$@"'


def test_identity_files(plan: LabPlan, tmp_path: Path) -> None:
    ssh.ensure_client_key(plan)
    m = plan.machine("t2")
    assert machine.write_identity(plan, m, m.upper)
    assert not machine.write_identity(plan, m, m.upper)  # once only: later edits inside are kept
    up = m.upper
    assert (up / "etc/hostname").read_text() == "t2\n"
    assert "10.241.0.11\tt1" in (up / "etc/hosts").read_text()
    assert len((up / "etc/machine-id").read_text().strip()) == 32
    assert (up / "etc/resolv.conf").read_text() == "nameserver 10.241.0.1\n"
    assert (up / "root/.ssh/authorized_keys").read_text().strip() == ssh.public_key(plan.ssh_key)
    assert (up / "root/.ssh/authorized_keys").stat().st_mode & 0o777 == 0o600
    assert plan.ssh_key.stat().st_mode & 0o777 == 0o600
    key = ssh.host_public_key(m)
    assert key is not None and key.startswith("ssh-ed25519 ")
    known = ssh.known_hosts_text(plan)
    assert f"t2,10.241.0.21 {key}\n" in known
    assert "t1," not in known  # no key yet, no line


def test_ssh_command_checks_host_keys(plan: LabPlan) -> None:
    argv = ssh.ssh_argv(plan, plan.machine("t1"), ["true"])
    assert "StrictHostKeyChecking=yes" in argv
    assert f"UserKnownHostsFile={plan.known_hosts}" in argv
    assert argv[-2:] == ["root@10.241.0.11", "true"]


def test_debian_mirror_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFORGE_LAB_DEBIAN_MIRROR", "http://mirror.example/debian")
    assert rootfs.debian_mirror() == "http://mirror.example/debian"


def test_finalize_strips_machine_identity(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for d in ("etc/ssh", "etc/systemd/system/timers.target.wants", "var/lib/dbus",
              "var/cache/apt/archives"):
        (root / d).mkdir(parents=True)
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (root / "etc/machine-id").write_text("0123\n")
    (root / "var/lib/dbus/machine-id").write_text("0123\n")
    (root / "var/cache/apt/archives/x.deb").write_text("")
    (root / "etc/systemd/system/timers.target.wants/apt-daily.timer").symlink_to("/nowhere")
    rootfs.finalize(root)
    assert not list((root / "etc/ssh").glob("ssh_host_*"))
    assert (root / "etc/machine-id").read_text() == ""
    assert not (root / "var/lib/dbus/machine-id").exists()
    assert not (root / "var/cache/apt/archives/x.deb").exists()
    assert not (root / "etc/systemd/system/timers.target.wants/apt-daily.timer").is_symlink()
    assert "HostKey /etc/ssh/ssh_host_ed25519_key" in (
        root / "etc/ssh/sshd_config.d/kubeforge.conf").read_text()
    assert rootfs.is_ready(root) and rootfs.cached_recipe(root) == rootfs.recipe_id()


def test_cli_parses_every_action() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["lab", "up"]).env == "lab"
    assert parser.parse_args(["lab", "down", "prod"]).env == "prod"
    args = parser.parse_args(["lab", "ssh", "cp1", "systemctl", "is-system-running"])
    assert (args.host, args.command, args.env) == ("cp1", ["systemctl", "is-system-running"], "lab")
    args = parser.parse_args(["lab", "stop", "-e", "other", "w1"])
    assert (args.host, args.env) == ("w1", "other")
    assert callable(parser.parse_args(["lab", "start", "w1"]).func)
