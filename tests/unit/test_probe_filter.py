"""The filters that index the roles' probe output (plugins/filter/probe.py)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

LINES = [
    f"{'a' * 64}  /usr/local/bin/kubelet",
    f"{'b' * 64}  /etc/containerd/config.toml",
    "stat /usr/local/bin/kubelet 755 root:root regular file",
    "stat /etc/kubernetes/manifests 755 root:root directory",
    "link ctr /opt/kubeforge/containerd-2.1.5/bin/ctr",
    "link crictl",
    "enabled enabled",
    "not a probe line",
]


def test_sums_read_only_sha256sum_lines(filter_plugin: Callable[[str], ModuleType]) -> None:
    assert filter_plugin("probe").probe_sums(LINES) == {"/usr/local/bin/kubelet": "a" * 64,
                                           "/etc/containerd/config.toml": "b" * 64}


def test_fields_by_tag_keep_the_rest_of_the_line(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    probe = filter_plugin("probe")
    assert probe.probe_fields(LINES, "stat") == {
        "/usr/local/bin/kubelet": "755 root:root regular file",
        "/etc/kubernetes/manifests": "755 root:root directory"}
    # a link that does not exist yet has an empty target
    assert probe.probe_fields(LINES, "link") == {"ctr": "/opt/kubeforge/containerd-2.1.5/bin/ctr",
                                                 "crictl": ""}
    assert probe.probe_fields(LINES, "missing") == {}
    assert set(probe.FilterModule().filters()) == {"probe_sums", "probe_fields", "probe_differs",
                                                    "probe_stale", "probe_sha256_cmd",
                                                    "probe_with_block"}


def test_probe_differs_lists_missing_and_other_values_in_order(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    differs = filter_plugin("probe").probe_differs
    found = {"/a": "1", "/b": "2"}
    assert differs({"/a": "1", "/b": "3", "/c": "1"}, found) == ["/b", "/c"]
    assert differs({"/a": "1"}, found) == []


def test_probe_stale_compares_digest_mode_and_owner(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    stale = filter_plugin("probe").probe_stale
    digest = hashlib.sha256(b"a\n").hexdigest()
    files = [{"path": "/a", "content": "a\n"}, {"path": "/b", "content": "a\n", "mode": "0600"}]
    sums = {"/a": digest, "/b": digest}
    assert stale(files, sums, {"/a": "644 root:root regular file",
                               "/b": "600 root:root regular file"}) == []
    assert stale(files, sums, {"/a": "644 root:root regular file"}) == ["/b"]
    assert stale(files, {"/b": digest}, {"/b": "600 root:root"}, "") == ["/a"]


def test_probe_sha256_cmd_trusts_only_unchanged_recorded_files(
        tmp_path: Path, filter_plugin: Callable[[str], ModuleType]) -> None:
    cmd = filter_plugin("probe").probe_sha256_cmd
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("aaa")
    b.write_text("bbb")
    st = a.stat()
    db = tmp_path / "sums"
    ctime = f"{st.st_ctime_ns // 10**9}.{st.st_ctime_ns % 10**9:09d}"
    db.write_text(f"{a} {'f' * 64} {st.st_size} {ctime} {st.st_ino}\n"
                  f"{b} {'e' * 64} 3 1 1\n")
    script = cmd([str(a), str(b), str(tmp_path / "missing")], db=str(db))
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"{'f' * 64}  {a}", f"{hashlib.sha256(b'bbb').hexdigest()}  {b}"]
    a.chmod(0o600)  # a changed ctime: hashed again
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == f"{hashlib.sha256(b'aaa').hexdigest()}  {a}"


def test_probe_with_block_replaces_or_appends_the_marked_block(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    put = filter_plugin("probe").probe_with_block
    block = ["# BEGIN nodes", "10.0.0.1 cp1", "# END nodes"]
    assert put(["127.0.0.1 localhost"], block) == (
        "127.0.0.1 localhost\n# BEGIN nodes\n10.0.0.1 cp1\n# END nodes\n")
    old = ["127.0.0.1 localhost", "# BEGIN nodes", "10.0.0.9 old", "# END nodes", "::1 localhost"]
    assert put(old, block).splitlines() == ["127.0.0.1 localhost", *block, "::1 localhost"]
    # an END marker before any BEGIN is not a block
    assert put(["# END nodes", "x"], block).splitlines() == ["# END nodes", "x", *block]
