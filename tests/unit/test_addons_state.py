"""kubeforge.cluster.addons_state and the addons filters: what lets a converged cluster skip
helm."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "addons_state",
        ROOT / "collections/ansible_collections/kubeforge/cluster/plugins/modules/addons_state.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paths_report_mode_owner_link_and_only_the_asked_digests(tmp_path: Path) -> None:
    folder = tmp_path / "addons"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    archive = tmp_path / "helm.tar.gz"
    archive.write_bytes(b"helm")
    archive.chmod(0o644)
    binary = tmp_path / "helm"
    binary.write_bytes(b"#!/bin/sh\n")
    binary.chmod(0o755)
    link = tmp_path / "link"
    link.symlink_to(binary)
    owner = f"{os.getuid()}:{os.getgid()}"
    query = {"paths": [str(folder), str(archive), str(binary), str(link), str(tmp_path / "none")],
             "sha256": [str(archive)]}

    found = _module().paths(query)

    assert found == {
        str(folder): f"0750 {owner} - -",
        str(archive): f"0644 {owner} - {hashlib.sha256(b'helm').hexdigest()}",
        str(binary): f"0755 {owner} - -",
        str(link): f"0777 {owner} {binary} -",
        str(tmp_path / "none"): None,
    }



def test_pending_releases_are_those_that_differ(
        tmp_path: Path, filter_plugin: Callable[[str], ModuleType]) -> None:
    f = filter_plugin("addons")
    chart = tmp_path / "chart"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: local\nversion: 0.2.0\n")
    repo = {"namespace": "a", "name": "repo", "chart": "c", "version": "1.0.0", "values": {"x": 1}}
    local = {"namespace": "a", "name": "local", "path": str(chart), "checksum": "d1",
             "values": {}}
    deployed = {"status": "deployed", "chart": "c", "version": "1.0.0", "config": {"x": 1}}
    state = {"releases": {"a/repo": deployed,
                          "a/local": {"status": "deployed", "chart": "local",
                                      "version": "0.2.0", "config": {}}},
             "charts": {"a/local": "d1"}}
    assert f.addons_pending([repo, local], state) == []
    for change in ({"values": {"x": 2}}, {"version": "1.0.1"}, {"chart": "other"}):
        assert f.addons_pending([{**repo, **change}], state) == [{**repo, **change}]
    assert f.addons_pending([{**local, "checksum": "d2"}], state) == [{**local, "checksum": "d2"}]
    failed = {"releases": {"a/repo": {**deployed, "status": "failed"}}}
    assert f.addons_pending([repo], failed) == [repo]
    assert f.addons_pending([repo], {"releases": {}}) == [repo]  # not installed yet
    assert f.addons_statuses(failed) == {"a/repo": "failed"}
