"""The add-on manifests (Gateway API CRDs) as local files checked against their pinned sha256.

The Ansible role downloads them on a node; a stack applies them from the control host, so it
fetches them here: from the local mirror's files tree when the URL is a kubeforge mirror's (that
works before the lab and its file server are up, as in a first `pulumi preview`), else over HTTP.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from kubeforge import artifacts
from kubeforge.addons import manifests
from kubeforge.errors import KubeforgeError
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.spec.models import ClusterSpec
from kubeforge.stack import cache_dir


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(url: str) -> bytes:
    local = MirrorLayout.default().files / urlparse(url).path.lstrip("/")
    if local.is_file():
        return local.read_bytes()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data: bytes = resp.read()
            return data
    except (urllib.error.URLError, TimeoutError) as e:
        raise KubeforgeError(f"cannot fetch {url}: {e} — is the mirror serving?") from e


def manifest_files(spec: ClusterSpec) -> list[tuple[str, Path]]:
    """(name, local file) of each manifest the add-ons need, verified by sha256."""
    wanted = manifests(spec)
    if not wanted:
        return []
    resolved = artifacts.resolve(spec)
    out: list[tuple[str, Path]] = []
    for name in wanted:
        art = resolved[name]
        cached = cache_dir() / "manifests" / f"{name}-{art.sha256}.yaml"
        if not cached.is_file():
            data = _read(art.url)
            if _sha256(data) != art.sha256:
                raise KubeforgeError(f"{art.url} has sha256 {_sha256(data)}, the spec pins "
                                     f"{art.sha256}: the mirror and its checksums disagree")
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
        out.append((name, cached))
    return out
