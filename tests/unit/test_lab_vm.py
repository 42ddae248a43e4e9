"""The VM kind of lab machine (`lab.kind: vm`): its QEMU command and seed disk, made without
booting anything."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.lab import ssh, vm, vmimage
from kubeforge.lab.model import LabPlan, load_plan

TEST_SPEC = Path(__file__).resolve().parents[1] / "lab" / "cluster.yml"


@pytest.fixture()
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabPlan:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    p = load_plan(TEST_SPEC)
    return replace(p, kind="vm", machines=tuple(replace(m, kind="vm", cpus=1, memory_mib=2048)
                                                 for m in p.machines))


def test_qemu_command(plan: LabPlan, tmp_path: Path) -> None:
    m = plan.machine("t1")
    machine_id = m.identity_root / "etc/machine-id"
    machine_id.parent.mkdir(parents=True)
    machine_id.write_text("0123456789abcdef0123456789abcdef\n")
    argv = vm.qemu_argv(m, vmimage.VMImage(tmp_path / "img"))
    assert argv[0] == vm.QEMU
    joined = " ".join(argv)
    assert "-smp 1 -m 2048" in joined
    assert f"tap,id=net0,ifname={m.veth},script=no" in joined
    assert f"virtio-net-pci,netdev=net0,mac={m.mac}" in joined
    # the seed disk is the second virtio disk, read-only: the image's seed unit reads /dev/vdb
    disks = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
    assert disks[0].startswith(f"file={m.dir / 'disk.qcow2'},if=virtio,format=qcow2")
    assert disks[1] == f"file={m.dir / 'seed.img'},if=virtio,format=raw,readonly=on"
    assert vmimage.SEED_DEVICE == "/dev/vdb"
    kernel_args = argv[argv.index("-append") + 1]
    assert "net.ifnames=0" in kernel_args and "systemd.hostname=t1" in kernel_args
    # the seed's machine-id from the first instant of boot: journald files under it
    assert "systemd.machine_id=0123456789abcdef0123456789abcdef" in kernel_args
    assert argv[-3:] == ["-daemonize", "-pidfile", str(m.pidfile)]


def test_qemu_command_needs_the_seed(plan: LabPlan, tmp_path: Path) -> None:
    with pytest.raises(KubeforgeError, match="no machine-id"):
        vm.qemu_argv(plan.machine("t1"), vmimage.VMImage(tmp_path / "img"))


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
                    reason="e2fsprogs is not installed")
def test_seed_disk_holds_identity_and_address(plan: LabPlan) -> None:
    ssh.ensure_client_key(plan)
    m = plan.machine("t2")
    vm.write_seed(plan, m)
    first_key = ssh.host_public_key(m)
    assert first_key and first_key.startswith("ssh-ed25519 ")

    def cat(path: str) -> str:
        return subprocess.run(["debugfs", "-R", f"cat {path}", str(m.dir / "seed.img")],
                              capture_output=True, text=True, check=True).stdout

    assert cat("/identity/etc/hostname") == "t2\n"
    assert cat("/identity/etc/kubeforge-machine").strip().endswith("/t2")
    network = cat("/runtime/etc/systemd/network/10-eth0.network")
    assert f"Address={m.interface}" in network and f"Gateway={m.gateway}" in network
    vm.write_seed(plan, m)  # a restart: same identity, fresh runtime files
    assert ssh.host_public_key(m) == first_key


def test_seed_script_copies_identity_once() -> None:
    lines = vmimage._SEED.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert 'if [ ! -e /etc/kubeforge-machine ]; then cp -a "$dir/identity/." /; fi' in lines
    assert 'cp -a "$dir/runtime/." /' in lines

