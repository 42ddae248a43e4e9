"""OCI image layout writing: determinism, digests, manifest/config, readable layers."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci


def _image(root: Path, src: Path) -> tuple[oci.ImageLayout, oci.Descriptor]:
    layout = oci.ImageLayout(root)
    base = layout.put_layer(oci.file_entries({"etc/passwd": b"root:x:0:0::/:/bin/sh\n"},
                                             mode=0o644), "base")
    top = layout.put_layer(oci.file_entries({"usr/local/bin/tool": src}), "tool")
    desc = layout.put_image("registry.k8s.io/tool:v1.0.0", [base, top],
                            oci.ImageConfig(entrypoint=("/usr/local/bin/tool",)))
    return layout, desc


@pytest.fixture
def binary(tmp_path: Path) -> Path:
    p = tmp_path / "src" / "tool"
    p.parent.mkdir()
    p.write_bytes(b"\x7fELF fake binary\n" * 100)
    p.chmod(0o700)
    return p


def test_same_input_gives_same_digests(tmp_path: Path, binary: Path) -> None:
    _, first = _image(tmp_path / "a", binary)
    os.utime(binary, (1, 1))  # a different mtime on disk must not change the image
    _, second = _image(tmp_path / "b", binary)
    assert first.digest == second.digest
    a = sorted(p.name for p in (tmp_path / "a" / "blobs" / "sha256").iterdir())
    b = sorted(p.name for p in (tmp_path / "b" / "blobs" / "sha256").iterdir())
    assert a == b


def test_manifest_config_and_index_are_consistent(tmp_path: Path, binary: Path) -> None:
    layout, desc = _image(tmp_path / "img", binary)
    assert json.loads((tmp_path / "img" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"}
    index = json.loads(layout.index_file.read_text())
    assert index["mediaType"] == oci.MEDIA_INDEX
    [entry] = index["manifests"]
    assert entry["annotations"][oci.REF_NAME] == "registry.k8s.io/tool:v1.0.0"
    assert entry["annotations"][oci.CONTAINERD_NAME] == "registry.k8s.io/tool:v1.0.0"

    body = layout.blob_path(desc.digest).read_bytes()
    assert desc.digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert desc.size == len(body) == entry["size"]
    manifest = json.loads(body)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == oci.MEDIA_MANIFEST
    assert manifest["config"]["mediaType"] == oci.MEDIA_CONFIG
    config = layout.read_json(manifest["config"]["digest"])
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/tool"]
    assert any(e.startswith("PATH=") and "/usr/local/bin" in e for e in config["config"]["Env"])

    diff_ids = []
    for layer in manifest["layers"]:
        assert layer["mediaType"] == oci.MEDIA_LAYER
        blob = layout.blob_path(layer["digest"]).read_bytes()
        assert layer["size"] == len(blob)
        assert layer["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest())
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
    assert layout.verify() == []


def test_layers_are_plain_tars_with_fixed_metadata(tmp_path: Path, binary: Path) -> None:
    layout, desc = _image(tmp_path / "img", binary)
    top = layout.read_json(desc.digest)["layers"][-1]["digest"]
    with tarfile.open(layout.blob_path(top), "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == ["usr", "usr/local", "usr/local/bin", "usr/local/bin/tool"]
        tool = members["usr/local/bin/tool"]
        assert tool.isfile() and tool.mode == 0o755 and tool.uid == 0
        assert all(m.mtime == oci.EPOCH for m in members.values())
        assert members["usr"].isdir()
        f = tar.extractfile(tool)
        assert f is not None and f.read() == binary.read_bytes()


def test_tree_entries_keep_links_and_skip_contents(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "dev" / "null-ish").write_text("x")
    (root / "usr" / "sbin" / "xtables-nft-multi").write_bytes(b"bin")
    os.link(root / "usr/sbin/xtables-nft-multi", root / "usr/sbin/iptables-nft-hard")
    (root / "usr" / "sbin" / "iptables").symlink_to("xtables-nft-multi")
    entries = {e.path: e for e in oci.tree_entries(root, skip_contents=("dev",))}
    assert "dev" in entries and "dev/null-ish" not in entries
    assert entries["usr/sbin/iptables"].kind == "symlink"
    assert entries["usr/sbin/iptables"].target == "xtables-nft-multi"
    kinds = {entries["usr/sbin/iptables-nft-hard"].kind, entries["usr/sbin/xtables-nft-multi"].kind}
    assert kinds == {"file", "hardlink"}
    layout = oci.ImageLayout(tmp_path / "img")
    layer = layout.put_layer(entries.values())
    with tarfile.open(layout.blob_path(layer.blob.digest), "r:gz") as tar:
        link = tar.getmember("usr/sbin/iptables")
        assert link.issym() and link.linkname == "xtables-nft-multi"
        assert tar.getmember("usr/sbin/xtables-nft-multi").islnk()


def test_verify_reports_a_corrupt_blob(tmp_path: Path, binary: Path) -> None:
    layout, desc = _image(tmp_path / "img", binary)
    layer = layout.read_json(desc.digest)["layers"][0]["digest"]
    layout.blob_path(layer).write_bytes(b"garbage")
    [problem] = layout.verify()
    assert layer in problem and "corrupt" in problem


def test_export_archive_is_an_importable_layout(tmp_path: Path, binary: Path) -> None:
    layout, desc = _image(tmp_path / "img", binary)
    dest = tmp_path / "tool.tar"
    layout.export_archive(["registry.k8s.io/tool:v1.0.0"], dest)
    with tarfile.open(dest) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert "oci-layout" in names
    assert f"blobs/sha256/{desc.digest.split(':')[1]}" in names
    assert index["manifests"][0]["digest"] == desc.digest


@pytest.mark.parametrize(("ref", "expected"), [
    ("registry.k8s.io/coredns/coredns:v1.12.1", ("registry.k8s.io", "coredns/coredns", "v1.12.1")),
    ("ghcr.io/flannel-io/flannel:v0.28.10", ("ghcr.io", "flannel-io/flannel", "v0.28.10")),
    ("registry.k8s.io/etcd:3.6.5-0", ("registry.k8s.io", "etcd", "3.6.5-0")),
    ("library/busybox:1.36", ("docker.io", "library/busybox", "1.36")),
    ("127.0.0.1:5000/pause:3.10.1", ("127.0.0.1:5000", "pause", "3.10.1")),
])
def test_split_ref(ref: str, expected: tuple[str, str, str]) -> None:
    assert oci.split_ref(ref) == expected


def test_split_ref_needs_a_tag() -> None:
    with pytest.raises(KubeforgeError, match="no tag"):
        oci.split_ref("127.0.0.1:5000/pause")
