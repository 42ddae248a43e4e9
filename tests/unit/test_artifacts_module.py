"""The kubeforge.cluster.artifacts module: archive safety, and real runs through ansible-playbook.

The playbook runs go over a local HTTP server on this host (connection local), with the module
exactly as the roles call it: check mode, install, a no-op re-run, repair and a bad checksum.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from kubeforge import paths

COLLECTION = paths.ROOT / "collections/ansible_collections/kubeforge/cluster"
MODULE = COLLECTION / "plugins/modules/artifacts.py"


def _module() -> ModuleType:
    # the module imports the collection's module_utils by their Ansible name
    if str(paths.ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(paths.ROOT / "collections"))
    spec = importlib.util.spec_from_file_location("artifacts", MODULE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tar(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_extract_refuses_members_outside_the_folder(tmp_path: Path) -> None:
    mod = _module()
    _tar(tmp_path / "evil.tar.gz", {"../evil": b"x"})
    with (tarfile.open(tmp_path / "evil.tar.gz") as archive,
          pytest.raises(ValueError, match="outside")):
        for member in archive:
            mod.extract(archive, member, str(tmp_path / "out"), 0)
    assert not (tmp_path / "evil").exists()


def test_extract_strips_leading_components(tmp_path: Path) -> None:
    mod = _module()
    _tar(tmp_path / "helm.tar.gz", {"linux-amd64/helm": b"helm", "linux-amd64/LICENSE": b"l"})
    with tarfile.open(tmp_path / "helm.tar.gz") as archive:
        for member in archive:
            mod.extract(archive, member, str(tmp_path / "out"), 1)
    assert (tmp_path / "out/helm").read_bytes() == b"helm"
    assert not (tmp_path / "out/linux-amd64").exists()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "srv"
    root.mkdir()
    handler = partial(Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def _run(tmp_path: Path, args: dict[str, Any], *flags: str,
         module: str = "kubeforge.cluster.artifacts") -> dict[str, Any]:
    """One play with the module on localhost; returns the task result (json callback)."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{module: args}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(paths.ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_CALLBACKS_ENABLED": "kubeforge_timings"}  # idle: stdout stays JSON
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", *flags, str(tmp_path / "play.yml")],
        capture_output=True, text=True, env=env, cwd=paths.ROOT, check=False)
    result: dict[str, Any] = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="the module installs root-owned files")
def test_install_check_mode_noop_repair_and_bad_checksum(
        tmp_path: Path, served: tuple[str, Path]) -> None:
    url, srv = served
    tool = _tar(srv / "tool.tar.gz", {"bin/tool": b"tool v1", "bin/helper": b"helper"})
    (srv / "runc").write_bytes(b"runc")
    runc = hashlib.sha256(b"runc").hexdigest()
    out = tmp_path / "out"
    args: dict[str, Any] = {
        "cache_dir": str(out / "cache"),
        "folders": [str(out / "opt"), {"path": str(out / "private"), "mode": "0750"}],
        "artifacts": [
            {"name": "tool", "url": f"{url}/tool.tar.gz", "sha256": tool,
             "unpack": str(out / "opt/tool-1"), "creates": str(out / "opt/tool-1/bin/tool")},
            {"name": "runc", "url": f"{url}/runc", "sha256": runc,
             "install": str(out / "sbin/runc")},
            {"name": "helper", "url": f"{url}/tool.tar.gz", "sha256": tool,
             "unpack": str(out / "cni"), "marker": str(out / "cni/.tool"),
             "creates": str(out / "cni/bin/helper"), "member": "bin/helper",
             "install": str(out / "bin/helper")},
        ],
        "links": {str(out / "bin/tool"): str(out / "opt/tool-1/bin/tool")},
    }

    checked = _run(tmp_path, args, "--check", "--diff")
    assert checked["changed"] and not out.joinpath("opt").exists(), checked
    assert str(out / "sbin/runc") in checked["changes"]

    done = _run(tmp_path, args)
    assert done["changed"] and not done.get("failed"), done
    assert (out / "bin/tool").resolve().read_bytes() == b"tool v1"
    assert (out / "sbin/runc").stat().st_mode & 0o777 == 0o755
    assert (out / "bin/helper").read_bytes() == b"helper"
    assert (out / "private").stat().st_mode & 0o777 == 0o750
    assert (out / "cni/.tool").read_text() == tool + "\n"

    again = _run(tmp_path, args)
    assert again["changed"] is False, again

    (out / "sbin/runc").write_bytes(b"tampered")
    repaired = _run(tmp_path, args)
    assert repaired["changes"] == [str(out / "sbin/runc")], repaired
    assert (out / "sbin/runc").read_bytes() == b"runc"

    (out / "cni/bin/helper").unlink()  # removed by hand: unpacked again, though the marker holds
    unpacked = _run(tmp_path, args)
    assert unpacked["changes"] == [str(out / "cni")], unpacked
    assert (out / "cni/bin/helper").read_bytes() == b"helper"

    (srv / "runc").write_bytes(b"runc from a stale mirror")
    (out / "cache/runc").unlink()
    bad = _run(tmp_path, args)
    assert bad.get("failed") and "served a file with sha256" in bad["msg"], bad
    assert "expected " + runc in bad["msg"]
    assert not (out / "cache/runc").exists()
    assert (out / "sbin/runc").read_bytes() == b"runc"


@pytest.mark.skipif(os.geteuid() != 0, reason="the module writes root-owned files")
def test_files_writes_only_what_differs(tmp_path: Path) -> None:
    out = tmp_path / "etc"
    args: dict[str, Any] = {
        "folders": [{"path": str(out / "private"), "mode": "0700"}],
        "files": [{"path": str(out / "a.conf"), "content": "a = 1\n"},
                  {"path": str(out / "private/b.conf"), "content": "b\n", "mode": "0600"}]}
    checked = _run(tmp_path, args, "--check", "--diff", module="kubeforge.cluster.files")
    assert checked["changed"] and not out.exists(), checked
    done = _run(tmp_path, args, module="kubeforge.cluster.files")
    assert done["changes"] == [str(out / "private"), str(out / "a.conf"),
                               str(out / "private/b.conf")], done
    assert (out / "private/b.conf").stat().st_mode & 0o777 == 0o600
    assert _run(tmp_path, args, module="kubeforge.cluster.files")["changed"] is False
    (out / "a.conf").chmod(0o666)
    again = _run(tmp_path, args, module="kubeforge.cluster.files")
    assert again["changes"] == [str(out / "a.conf")], again
    assert (out / "a.conf").read_text() == "a = 1\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the module writes root-owned files")
def test_files_validate_before_replacing_any(tmp_path: Path) -> None:
    out = tmp_path / "etc"
    out.mkdir()
    (out / "a.conf").write_text("old a\n")
    # the validator accepts a file that starts with "ok"
    accept = "grep -q ^ok %s"
    bad: dict[str, Any] = {"files": [{"path": str(out / "a.conf"), "content": "ok a\n"},
                                     {"path": str(out / "b.conf"), "content": "broken\n",
                                      "validate": accept}]}
    for flags in (("--check",), ()):
        failed = _run(tmp_path, bad, *flags, module="kubeforge.cluster.files")
        assert failed.get("failed") and str(out / "b.conf") in failed["msg"], failed
        assert "grep -q ^ok" in failed["msg"] and not failed["changed"], failed
        # nothing replaced, no copy left beside the files
        assert (out / "a.conf").read_text() == "old a\n"
        assert sorted(p.name for p in out.iterdir()) == ["a.conf"]
    bad["files"][1]["content"] = "ok b\n"
    checked = _run(tmp_path, bad, "--check", module="kubeforge.cluster.files")
    assert checked["changed"] and not (out / "b.conf").exists(), checked
    done = _run(tmp_path, bad, module="kubeforge.cluster.files")
    assert done["changes"] == [str(out / "a.conf"), str(out / "b.conf")], done
    assert (out / "b.conf").read_text() == "ok b\n"
    assert sorted(p.name for p in out.iterdir()) == ["a.conf", "b.conf"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the module installs root-owned files")
def test_install_writes_the_rendered_files_in_the_same_run(
        tmp_path: Path, served: tuple[str, Path]) -> None:
    url, srv = served
    (srv / "runc").write_bytes(b"runc")
    out = tmp_path / "out"
    args: dict[str, Any] = {
        "cache_dir": str(out / "cache"),
        "artifacts": [{"name": "runc", "url": f"{url}/runc",
                       "sha256": hashlib.sha256(b"runc").hexdigest(),
                       "install": str(out / "sbin/runc")}],
        "files": [{"path": str(out / "etc/runc.conf"), "content": "ok\n", "mode": "0600",
                   "validate": "grep -q ^ok %s"}]}
    checked = _run(tmp_path, args, "--check", "--diff")
    assert str(out / "etc/runc.conf") in checked["changes"] and not out.exists(), checked
    done = _run(tmp_path, args)
    assert done["changes"][-1] == str(out / "etc/runc.conf"), done
    assert (out / "etc/runc.conf").stat().st_mode & 0o777 == 0o600
    assert _run(tmp_path, args)["changed"] is False
    # a rejected file fails the run and leaves the one on the node as it was
    args["files"][0]["content"] = "broken\n"
    rejected = _run(tmp_path, args)
    assert rejected.get("failed") and "grep -q ^ok" in rejected["msg"], rejected
    assert (out / "etc/runc.conf").read_text() == "ok\n"
