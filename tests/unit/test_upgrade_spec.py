"""The spec's `upgrade` section and what `kubeforge render` hands the upgrade playbook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.spec import load_spec


def test_upgrade_defaults(tmp_path: Path, lab_files: Path, lab_data: dict[str, Any],
                          write_spec: Callable[[dict[str, Any]], Path],
        rendered_group_vars: Callable[[Path, Path], dict[str, Any]]) -> None:
    gv = rendered_group_vars(write_spec(lab_data), tmp_path / "out")
    up = gv["kubeforge_upgrade"]
    assert up["worker_batch"] == 1
    assert up["drain_timeout"] == 300
    # oldest first, compared as numbers (1.36.3 before 1.37.2)
    assert up["releases"] == sorted(versions.RELEASES,
                                    key=lambda v: tuple(int(p) for p in v.split(".")))
    assert up["releases"].index("1.36.3") < up["releases"].index("1.37.2")


def test_upgrade_fields_render(tmp_path: Path, lab_files: Path, lab_data: dict[str, Any],
                               write_spec: Callable[[dict[str, Any]], Path],
        rendered_group_vars: Callable[[Path, Path], dict[str, Any]]) -> None:
    lab_data["upgrade"] = {"worker_batch": 2, "drain_timeout": 600}
    up = rendered_group_vars(write_spec(lab_data), tmp_path / "out")["kubeforge_upgrade"]
    assert (up["worker_batch"], up["drain_timeout"]) == (2, 600)


@pytest.mark.parametrize("bad", [{"worker_batch": 0}, {"drain_timeout": 5},
                                 {"worker_batch": 1, "serial": 2}])
def test_upgrade_fields_are_checked(lab_files: Path, lab_data: dict[str, Any],
                                    write_spec: Callable[[dict[str, Any]], Path],
                                    bad: dict[str, Any]) -> None:
    lab_data["upgrade"] = bad
    with pytest.raises(KubeforgeError, match="upgrade"):
        load_spec(str(write_spec(lab_data)))
