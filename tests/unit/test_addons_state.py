"""addons_state.py (the addons role): the path report that lets a converged node skip helm."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "addons_state", ROOT / "roles" / "addons" / "files" / "addons_state.py")
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
