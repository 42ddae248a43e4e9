"""The etcd_backup spec section: defaults, validation and what render hands to Ansible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeforge.cli import build_parser
from kubeforge.errors import SpecError
from kubeforge.spec import load_spec

Writer = Callable[[dict[str, Any]], Path]


def test_defaults_render(lab_files: Path, lab_data: dict[str, Any], write_spec: Writer,
                         tmp_path: Path,
        rendered_group_vars: Callable[[Path, Path], dict[str, Any]]) -> None:
    lab_data.pop("etcd_backup", None)
    gv = rendered_group_vars(write_spec(lab_data), tmp_path / "out")
    assert gv["kubeforge_etcd_backup"] == {
        "dir": "/var/backups/kubeforge/etcd", "retention": 7, "schedule": None, "fetch": True}
    # the role downloads etcdctl/etcdutl from the same pinned tarball as everything else
    assert gv["kubeforge_artifacts"]["etcd"]["url"].endswith(".tar.gz")
    assert len(gv["kubeforge_artifacts"]["etcd"]["sha256"]) == 64


def test_custom_values_render(lab_files: Path, lab_data: dict[str, Any], write_spec: Writer,
                              tmp_path: Path,
        rendered_group_vars: Callable[[Path, Path], dict[str, Any]]) -> None:
    lab_data["etcd_backup"] = {"dir": "/srv/etcd-backups/", "retention": 3,
                               "schedule": "*-*-* 00/6:00:00", "fetch": False}
    gv = rendered_group_vars(write_spec(lab_data), tmp_path / "out")
    assert gv["kubeforge_etcd_backup"] == {
        "dir": "/srv/etcd-backups", "retention": 3, "schedule": "*-*-* 00/6:00:00",
        "fetch": False}


@pytest.mark.parametrize(("section", "needle"), [
    ({"dir": "backups"}, "etcd_backup.dir"),
    ({"dir": "/var/lib/etcd/snapshots"}, "outside /var/lib/etcd"),
    ({"dir": "/etc/kubernetes"}, "outside /var/lib/etcd"),
    ({"dir": "/"}, "not a place for backups"),
    ({"retention": 0}, "etcd_backup.retention"),
    ({"schedule": ""}, "etcd_backup.schedule"),
    ({"keep": 3}, "etcd_backup.keep"),
])
def test_invalid_values_are_refused(section: dict[str, Any], needle: str,
                                    lab_data: dict[str, Any], write_spec: Writer) -> None:
    lab_data["etcd_backup"] = section
    with pytest.raises(SpecError) as err:
        load_spec(write_spec(lab_data), check_files=False)
    assert any(needle in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("argv", [["restore"], ["restore", "lab"],
                                  ["restore", "/tmp/env/cluster.yml"]])
def test_restore_needs_a_snapshot_name(argv: list[str], capsys: pytest.CaptureFixture[str],
                                       ) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "snapshot" in capsys.readouterr().err


def test_restore_takes_env_and_snapshot() -> None:
    args = build_parser().parse_args(["restore", "lab", "etcd-lab-20260101T000000Z-cp1.db"])
    assert args.env == "lab"
    assert args.op.playbook == "etcd-restore"
    assert args.snapshot == "etcd-lab-20260101T000000Z-cp1.db"
