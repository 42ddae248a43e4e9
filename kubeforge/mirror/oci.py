"""Write OCI images without Docker: deterministic layers, config, manifest, one image layout.

Everything is reproducible: fixed mtimes and owners, sorted entries, gzip without name or time,
JSON with sorted keys. Rebuilding an image from the same files gives the same digests, so a
re-run of `kubeforge mirror build` changes nothing in the registry.

All images of a mirror live in one OCI image layout (`oci-layout`, `index.json`, `blobs/`), so
layers shared between images (the Debian base) are stored once. Each image is one entry in
index.json, annotated with its full upstream reference.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from kubeforge.errors import KubeforgeError
from kubeforge.mirror.fsutil import atomic_path, atomic_write, sha256_file

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"

# 2000-01-01: a fixed, non-zero time for every file and for `created` (reproducible builds).
EPOCH = 946684800
CREATED = "2000-01-01T00:00:00Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Kind = Literal["file", "dir", "symlink", "hardlink"]


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Entry:
    """One file system entry of a layer. `path` is relative to the image root ("usr/bin/x")."""

    path: str
    kind: Kind = "file"
    source: Path | None = None  # content of a file entry
    data: bytes | None = None  # ... or literal content
    mode: int = 0o755
    target: str = ""  # symlink target, or the earlier path a hardlink points at
    uid: int = 0
    gid: int = 0


def with_parents(entries: Iterable[Entry]) -> list[Entry]:
    """`entries` plus a directory entry (0755) for every parent none of them is."""
    out = {e.path: e for e in entries}
    for path in list(out):
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            out.setdefault(d, Entry(d, "dir", mode=0o755))
    return list(out.values())


def file_entries(files: dict[str, Path | bytes], mode: int = 0o755) -> list[Entry]:
    """Entries for `{image path: source file or content}` plus every parent directory."""
    return with_parents(
        Entry(dest.strip("/"), data=src, mode=mode) if isinstance(src, bytes)
        else Entry(dest.strip("/"), source=src, mode=mode) for dest, src in files.items())


def tree_entries(root: Path, skip_contents: Iterable[str] = ()) -> Iterator[Entry]:
    """Entries of a directory tree (a rootfs), owners and modes kept, hardlinks preserved.

    Directories in `skip_contents` (e.g. "dev", "proc") are kept but emptied; device nodes,
    sockets and fifos are left out (the runtime provides /dev).
    """
    skip = set(skip_contents)
    seen: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir in skip:
            dirnames.clear()
            continue
        for name in sorted([*dirnames, *filenames]):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                yield Entry(rel, "dir", mode=perm, uid=st.st_uid, gid=st.st_gid)
            elif stat.S_ISLNK(st.st_mode):
                yield Entry(rel, "symlink", target=os.readlink(full), mode=0o777,
                            uid=st.st_uid, gid=st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    yield Entry(rel, "hardlink", target=seen[key], mode=perm,
                                uid=st.st_uid, gid=st.st_gid)
                    continue
                seen[key] = rel
                yield Entry(rel, source=Path(full), mode=perm, uid=st.st_uid, gid=st.st_gid)


def _tarinfo(e: Entry) -> tuple[tarfile.TarInfo, IO[bytes] | None]:
    ti = tarfile.TarInfo(e.path)
    ti.mtime = EPOCH
    ti.mode = e.mode
    ti.uid, ti.gid = e.uid, e.gid
    ti.uname = ti.gname = ""
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif e.kind == "symlink":
        ti.type, ti.linkname = tarfile.SYMTYPE, e.target
    elif e.kind == "hardlink":
        ti.type, ti.linkname = tarfile.LNKTYPE, e.target
    elif e.data is not None:
        ti.size = len(e.data)
        return ti, io.BytesIO(e.data)
    elif e.source is not None:
        ti.size = e.source.stat().st_size
        return ti, e.source.open("rb")
    else:
        raise ValueError(f"{e.path}: a file entry needs source or data")
    return ti, None


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, sink: _Sink | None) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                             "size": self.size}
        if self.annotations:
            d["annotations"] = dict(sorted(self.annotations.items()))
        return d


@dataclass(frozen=True)
class Layer:
    blob: Descriptor  # the gzip blob
    diff_id: str  # sha256 of the uncompressed tar
    comment: str = ""

    def as_json(self) -> dict[str, str | int]:
        return {"digest": self.blob.digest, "size": self.blob.size, "diff_id": self.diff_id,
                "comment": self.comment}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Layer:
        return cls(Descriptor(MEDIA_LAYER, str(d["digest"]), int(d["size"])), str(d["diff_id"]),
                   str(d.get("comment", "")))


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = (DEFAULT_PATH,)
    workdir: str = "/"
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def container_config(self) -> dict[str, Any]:
        c: dict[str, Any] = {"Env": list(self.env), "WorkingDir": self.workdir}
        if self.entrypoint:
            c["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            c["Cmd"] = list(self.cmd)
        if self.user:
            c["User"] = self.user
        if self.labels:
            c["Labels"] = dict(self.labels)
        return c


def split_ref(ref: str) -> tuple[str, str, str]:
    """`registry.k8s.io/coredns/coredns:v1.12.1` -> (registry host, repository, tag)."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        raise KubeforgeError(f"image reference {ref!r} has no tag")
    host, _, repo = name.partition("/")
    if not repo or ("." not in host and ":" not in host and host != "localhost"):
        host, repo = "docker.io", name
    return host, repo, tag


class ImageLayout:
    """An OCI image layout directory holding many images (one index.json entry each)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def index_file(self) -> Path:
        return self.root / "index.json"

    def blob_path(self, digest: str) -> Path:
        algo, _, hexd = digest.partition(":")
        return self.root / "blobs" / algo / hexd

    def _init(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        layout = self.root / "oci-layout"
        if not layout.exists():
            atomic_write(layout, canonical_json({"imageLayoutVersion": "1.0.0"}))

    def put_bytes(self, data: bytes, media_type: str) -> Descriptor:
        self._init()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write(path, data)
        return Descriptor(media_type, digest, len(data))

    def put_layer(self, entries: Iterable[Entry], comment: str = "") -> Layer:
        """Write a gzip layer from entries (sorted here), return its blob and diff_id."""
        self._init()
        tmp = self.root / "blobs" / f".layer-{os.getpid()}.tmp"
        try:
            with tmp.open("wb") as raw:
                blob = _HashingWriter(raw)
                with gzip.GzipFile(filename="", mode="wb", fileobj=blob,
                                   mtime=0, compresslevel=6) as gz:
                    diff = _HashingWriter(gz)
                    with tarfile.open(fileobj=diff, mode="w|",  # type: ignore[call-overload]
                                      format=tarfile.PAX_FORMAT) as tar:
                        for e in sorted(entries, key=lambda e: e.path):
                            ti, content = _tarinfo(e)
                            try:
                                tar.addfile(ti, content)
                            finally:
                                if content is not None:
                                    content.close()
            digest = "sha256:" + blob.hash.hexdigest()
            final = self.blob_path(digest)
            if final.exists():
                tmp.unlink()
            else:
                os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return Layer(Descriptor(MEDIA_LAYER, digest, blob.size),
                     "sha256:" + diff.hash.hexdigest(), comment)

    def put_image(self, ref: str, layers: list[Layer], config: ImageConfig) -> Descriptor:
        """Write config + manifest for `ref` and (re)point the index entry of `ref` at it."""
        cfg = {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": config.container_config(),
            "rootfs": {"type": "layers", "diff_ids": [la.diff_id for la in layers]},
            "history": [{"created": CREATED, "created_by": f"kubeforge mirror: {la.comment}"}
                        for la in layers],
        }
        cfg_desc = self.put_bytes(canonical_json(cfg), MEDIA_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": cfg_desc.as_json(),
            "layers": [la.blob.as_json() for la in layers],
        }
        desc = self.put_bytes(canonical_json(manifest), MEDIA_MANIFEST)
        entry = Descriptor(MEDIA_MANIFEST, desc.digest, desc.size,
                           {REF_NAME: ref, CONTAINERD_NAME: ref})
        index = self.index()
        index[ref] = entry
        self._write_index(index)
        return entry

    def index(self) -> dict[str, Descriptor]:
        """Image reference -> manifest descriptor."""
        if not self.index_file.exists():
            return {}
        data = json.loads(self.index_file.read_text())
        out: dict[str, Descriptor] = {}
        for m in data.get("manifests", []):
            ann = m.get("annotations", {})
            out[ann.get(REF_NAME, m["digest"])] = Descriptor(m["mediaType"], m["digest"],
                                                             m["size"], ann)
        return out

    def _write_index(self, index: dict[str, Descriptor]) -> None:
        self._init()
        data = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                "manifests": [index[ref].as_json() for ref in sorted(index)]}
        atomic_write(self.index_file, canonical_json(data))

    def has_image(self, ref: str) -> bool:
        desc = self.index().get(ref)
        return desc is not None and self.blob_path(desc.digest).exists()

    def read_json(self, digest: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.blob_path(digest).read_bytes())
        return data

    def blobs_of(self, ref: str) -> list[Descriptor]:
        """Manifest, config and layers of `ref` (what a registry push uploads)."""
        desc = self.index()[ref]
        manifest = self.read_json(desc.digest)
        blobs = [Descriptor(manifest["config"]["mediaType"], manifest["config"]["digest"],
                            manifest["config"]["size"])]
        blobs += [Descriptor(la["mediaType"], la["digest"], la["size"])
                  for la in manifest["layers"]]
        return [desc, *blobs]

    def verify(self) -> list[str]:
        """Problems found re-hashing every blob an image refers to (empty list: all good)."""
        problems: list[str] = []
        index = self.index()
        for ref in sorted(index):
            manifest_present = self.blob_path(index[ref].digest).exists()
            for d in self.blobs_of(ref) if manifest_present else [index[ref]]:
                path = self.blob_path(d.digest)
                if not path.exists():
                    problems.append(f"image {ref}: blob {d.digest} is missing ({path})")
                elif "sha256:" + sha256_file(path) != d.digest:
                    problems.append(f"image {ref}: blob {d.digest} ({path}) does not match "
                                    "its digest: corrupt")
        return problems

    def export_archive(self, refs: Iterable[str], dest: Path) -> None:
        """Write an OCI archive (a tar of a layout) of `refs`, for `ctr images import`."""
        index = self.index()
        wanted = {r: index[r] for r in refs}
        digests = sorted({d.digest for r in wanted for d in self.blobs_of(r)})
        sub = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
               "manifests": [wanted[r].as_json() for r in sorted(wanted)]}
        entries = [Entry("oci-layout", data=canonical_json({"imageLayoutVersion": "1.0.0"}),
                         mode=0o644),
                   Entry("index.json", data=canonical_json(sub), mode=0o644),
                   Entry("blobs", "dir"), Entry("blobs/sha256", "dir")]
        entries += [Entry(f"blobs/sha256/{d.partition(':')[2]}", source=self.blob_path(d),
                          mode=0o644) for d in digests]
        with atomic_path(dest) as tmp, tmp.open("wb") as f, \
                tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for e in entries:
                ti, content = _tarinfo(e)
                tar.addfile(ti, content)
                if content is not None:
                    content.close()


def read_layer_names(layout: ImageLayout, layer_digest: str) -> list[str]:
    """Member names of a layer blob (for tests and `status`)."""
    with tarfile.open(layout.blob_path(layer_digest), mode="r:gz") as tar:
        return tar.getnames()
