from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from kubeforge import paths, versions

LAB_SPEC = paths.inventories_dir() / "lab" / "cluster.yml"


@pytest.fixture
def lab_data() -> dict[str, Any]:
    """The lab spec as plain data, for tests to break one field at a time."""
    data: dict[str, Any] = yaml.safe_load(LAB_SPEC.read_text())
    return copy.deepcopy(data)


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any]) -> Path:
        path = tmp_path / "cluster.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def lab_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake KUBEFORGE_CACHE holding the files `lab up` and `mirror build` would create."""
    cache = tmp_path / "cache"
    ssh = cache / "lab" / "lab" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text("not a real key\n")
    (ssh / "known_hosts").write_text("")
    mirror = cache / "mirror"
    mirror.mkdir()
    release = versions.RELEASES[versions.DEFAULT_KUBERNETES]
    # a distinct fake digest per artifact: "a"*64 for the first, "b"*64 for the next, ...
    table = {name: {versions.component_version(release, name): "abcdef0123"[i % 10] * 64}
             for i, name in enumerate(versions.ARTIFACT_PATHS)}
    (mirror / "checksums.yml").write_text(yaml.safe_dump(table))
    pebble_ca = mirror / "build" / "pebble" / versions.PEBBLE / "certs" / "pebble.minica.pem"
    pebble_ca.parent.mkdir(parents=True)
    pebble_ca.write_text("-----BEGIN CERTIFICATE-----\nnot a real one\n")
    monkeypatch.setenv("KUBEFORGE_CACHE", str(cache))
    return cache


def _rendered_group_vars(spec_file: Path, out: Path) -> dict[str, Any]:
    """Render `spec_file` (its releases dropped: the lab's charts are relative to its own folder)
    and return the group vars Ansible would read."""
    from kubeforge.render import render
    from kubeforge.spec import load_spec

    data = yaml.safe_load(spec_file.read_text())
    data["releases"] = []
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    render(load_spec(str(spec_file)), out)
    rendered: dict[str, Any] = yaml.safe_load((out / "group_vars/all/kubeforge.yml").read_text())
    return rendered


@pytest.fixture
def rendered_group_vars() -> Callable[[Path, Path], dict[str, Any]]:
    return _rendered_group_vars


def load_path(name: str, path: Path) -> ModuleType:
    """A plugin file as a module, loaded by path as Ansible does."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _filter_plugin(name: str) -> ModuleType:
    """plugins/filter/NAME.py as a module: the file Ansible loads by path (filter_plugins)."""
    return load_path(name, paths.ROOT / "plugins" / "filter" / f"{name}.py")


def action_plugin(name: str) -> ModuleType:
    """The collection's action plugin NAME as a module (it may import the collection's
    module_utils, as under Ansible)."""
    if str(paths.ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(paths.ROOT / "collections"))
    return load_path(f"{name}_action", paths.ROOT / "collections/ansible_collections/kubeforge"
                     / "cluster/plugins/action" / f"{name}.py")


@pytest.fixture
def filter_plugin() -> Callable[[str], ModuleType]:
    return _filter_plugin
