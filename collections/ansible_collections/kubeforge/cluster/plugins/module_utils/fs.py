"""Root-owned files and folders written atomically: shared by the collection's modules."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from typing import IO, Any

CHUNK = 1 << 20


def sha256_of(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
            return digest.hexdigest()
    except OSError:
        return None


def file_mode(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


class DigestMismatch(Exception):
    pass


def stage(dest: str, source: IO[bytes], mode: int, expect: str | None = None) -> tuple[str, str]:
    """Stream `source` into a root-owned temporary file beside dest; returns (its path, sha256).

    The caller replaces dest with it (os.replace) or removes it. With `expect`, a stream of
    another digest is removed at once (DigestMismatch).
    """
    folder = os.path.dirname(dest)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".kubeforge-", dir=folder)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for block in iter(lambda: source.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        if expect is not None and digest.hexdigest() != expect:
            raise DigestMismatch(digest.hexdigest())
        os.chown(tmp, 0, 0)
        os.chmod(tmp, mode)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp, digest.hexdigest()


def write_atomic(dest: str, source: IO[bytes], mode: int, expect: str | None = None) -> str:
    """Stream `source` into dest through a temporary file beside it; returns its sha256.

    With `expect`, a stream of another digest never replaces dest (DigestMismatch).
    """
    tmp, digest = stage(dest, source, mode, expect)
    try:
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return digest


def parse_mode(value: Any) -> int:
    return value if isinstance(value, int) else int(str(value), 8)


def folder_spec(item: Any) -> tuple[str, int]:
    if isinstance(item, dict):
        return str(item["path"]), parse_mode(item.get("mode", "0755"))
    return str(item), 0o755


def ensure_folder(path: str, mode: int, check_mode: bool) -> bool:
    """Makes path a root:root folder of this mode; True if it was not (check mode: would be)."""
    if os.path.isdir(path) and not os.path.islink(path) and file_mode(path) == (mode, 0, 0):
        return False
    if not check_mode:
        os.makedirs(path, mode=mode, exist_ok=True)
        os.chown(path, 0, 0)
        os.chmod(path, mode)
    return True


#: "path sha256 size ctime inode" of the files the modules installed: a probe trusts the digest
#: while size, ctime and inode are unchanged (any write, chmod or replacement changes the ctime)
#: instead of hashing hundreds of megabytes of binaries on every run.
SUMS_DB = "/var/lib/kubeforge/sums"


def record_sums(sums: dict[str, str], db: str = SUMS_DB) -> None:
    """Merges the digests of these files, with their current size, ctime and inode, into db."""
    entries: dict[str, str] = {}
    try:
        with open(db, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 5:
                    entries[fields[0]] = line.rstrip("\n")
    except OSError:
        pass
    for path, digest in sums.items():
        try:
            st = os.stat(path)
        except OSError:
            entries.pop(path, None)
            continue
        # the ctime as `stat -c %.9Z` prints it
        ctime = f"{st.st_ctime_ns // 10**9}.{st.st_ctime_ns % 10**9:09d}"
        entries[path] = f"{path} {digest} {st.st_size} {ctime} {st.st_ino}"
    body = "".join(line + "\n" for line in entries.values())
    write_atomic(db, io.BytesIO(body.encode()), 0o644)
