"""A small client of the OCI distribution API (stdlib only): enough to push the mirror's
images into a plain-HTTP registry and to pull them back for a check.

Push = for each blob: HEAD (skip if present), else POST an upload session and PUT the whole
blob with its digest; then PUT the manifest under the tag.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci

TIMEOUT = 60.0
ACCEPT = ", ".join((oci.MEDIA_MANIFEST, oci.MEDIA_INDEX,
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class RegistryClient:
    def __init__(self, base: str) -> None:
        """`base` is the registry root, e.g. http://127.0.0.1:5000."""
        self.base = base.rstrip("/")

    def _request(self, method: str, url: str, data: Any = None,
                 headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200,)) -> Response:
        full = url if url.startswith("http") else f"{self.base}{url}"
        req = urllib.request.Request(full, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                r = Response(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                             resp.read())
        except urllib.error.HTTPError as e:
            r = Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
        except (urllib.error.URLError, OSError) as e:
            raise KubeforgeError(f"registry {self.base} does not answer ({e}); is it running? "
                                 "`kubeforge mirror serve`") from e
        if r.status not in ok:
            detail = r.body[:300].decode(errors="replace")
            raise KubeforgeError(f"registry: {method} {full} -> HTTP {r.status}: {detail}")
        return r

    def ping(self) -> bool:
        try:
            return self._request("GET", "/v2/", ok=(200, 401)).status in (200, 401)
        except KubeforgeError:
            return False

    def has_blob(self, repo: str, digest: str) -> bool:
        r = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return r.status == 200

    def upload_blob(self, repo: str, digest: str, data: Any, size: int) -> None:
        """Monolithic upload: POST opens a session, PUT ...?digest= sends the whole blob."""
        r = self._request("POST", f"/v2/{repo}/blobs/uploads/", data=b"", ok=(202,))
        location = urllib.parse.urljoin(f"{self.base}/", r.headers["location"])
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}digest={urllib.parse.quote(digest)}"
        self._request("PUT", url, data=data, ok=(201,), headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        r = self._request("PUT", f"/v2/{repo}/manifests/{reference}", data=body, ok=(201,),
                          headers={"Content-Type": media_type})
        return r.headers.get("docker-content-digest", "")

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str]:
        r = self._request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT})
        return r.body, r.headers.get("content-type", "")

    def get_blob(self, repo: str, digest: str) -> bytes:
        return self._request("GET", f"/v2/{repo}/blobs/{digest}").body

    def catalog(self) -> list[str]:
        body = self._request("GET", "/v2/_catalog?n=1000").body
        return list(json.loads(body).get("repositories", []))

    def tags(self, repo: str) -> list[str]:
        body = self._request("GET", f"/v2/{repo}/tags/list").body
        return list(json.loads(body).get("tags") or [])


def target_of(ref: str) -> tuple[str, str]:
    """Where an upstream image goes in the mirror: same repository path, no registry host."""
    _, repo, tag = oci.split_ref(ref)
    return repo, tag


def push(client: RegistryClient, layout: oci.ImageLayout, ref: str) -> tuple[str, int]:
    """Push image `ref` from the layout; return (manifest digest, bytes uploaded)."""
    repo, tag = target_of(ref)
    manifest, *blobs = layout.blobs_of(ref)
    uploaded = 0
    for d in blobs:
        if client.has_blob(repo, d.digest):
            continue
        path = layout.blob_path(d.digest)
        with path.open("rb") as f:
            client.upload_blob(repo, d.digest, f, d.size)
        uploaded += d.size
    body = layout.blob_path(manifest.digest).read_bytes()
    digest = client.put_manifest(repo, tag, body, manifest.media_type)
    if digest and digest != manifest.digest:
        raise KubeforgeError(f"registry stored {ref} as {digest}, expected {manifest.digest}")
    return manifest.digest, uploaded


def pull_check(client: RegistryClient, repo: str, tag: str) -> str:
    """Fetch a manifest and all its blobs, check every digest; return the manifest digest."""
    body, _ = client.get_manifest(repo, tag)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    manifest = json.loads(body)
    for d in [manifest["config"], *manifest["layers"]]:
        blob = client.get_blob(repo, d["digest"])
        got = "sha256:" + hashlib.sha256(blob).hexdigest()
        if got != d["digest"] or len(blob) != d["size"]:
            raise KubeforgeError(f"{repo}:{tag}: blob {d['digest']} came back as {got} "
                                 f"({len(blob)} bytes, expected {d['size']})")
    return digest
