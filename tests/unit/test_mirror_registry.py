"""The OCI distribution client: push, skip existing blobs, pull back and check digests.

Runs against a tiny in-process fake registry always, and against the real distribution
registry binary when `kubeforge mirror build --only registry` has built it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge.mirror import oci, registry
from kubeforge.mirror.components import REGISTRY_VERSION
from kubeforge.mirror.layout import MirrorLayout

REF = "registry.k8s.io/coredns/coredns:v9.9.9"


class FakeRegistry(BaseHTTPRequestHandler):
    """Just the endpoints a push and a pull use, with an in-memory store."""

    blobs: dict[str, bytes] = {}  # noqa: RUF012 (shared by design, reset per test)
    manifests: dict[str, tuple[bytes, str]] = {}  # noqa: RUF012
    uploads: list[str] = []  # noqa: RUF012

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        digest = self.path.rsplit("/", 1)[1]
        self._send(200 if digest in self.blobs else 404)

    def do_GET(self) -> None:
        if self.path == "/v2/":
            return self._send(200, b"{}")
        repo, kind, ref = self.path[4:].rsplit("/", 2)
        if kind == "blobs" and ref in self.blobs:
            return self._send(200, self.blobs[ref])
        if kind == "manifests" and f"{repo}:{ref}" in self.manifests:
            body, media = self.manifests[f"{repo}:{ref}"]
            return self._send(200, body, {"Content-Type": media})
        return self._send(404)

    def do_POST(self) -> None:
        self._send(202, headers={"Location": f"/upload/{uuid.uuid4()}"})

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.startswith("/upload/"):
            digest = self.path.split("digest=")[1].replace("%3A", ":")
            assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
            self.blobs[digest] = body
            self.uploads.append(digest)
            return self._send(201)
        repo, _, tag = self.path[4:].rsplit("/", 2)
        self.manifests[f"{repo}:{tag}"] = (body, self.headers["Content-Type"])
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return self._send(201, headers={"Docker-Content-Digest": digest})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def image(tmp_path: Path) -> oci.ImageLayout:
    layout = oci.ImageLayout(tmp_path / "images")
    base = layout.put_layer(oci.file_entries({"etc/passwd": b"root:x:0:0::/:/x\n"}), "base")
    top = layout.put_layer(oci.file_entries({"coredns": b"\x7fELF" + bytes(range(256)) * 64}))
    layout.put_image(REF, [base, top], oci.ImageConfig(entrypoint=("/coredns",)))
    return layout


@pytest.fixture
def fake() -> Iterator[str]:
    FakeRegistry.blobs, FakeRegistry.manifests, FakeRegistry.uploads = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _push_twice_and_pull(base: str, image: oci.ImageLayout) -> None:
    client = registry.RegistryClient(base)
    assert client.ping()
    digest, uploaded = registry.push(client, image, REF)
    assert digest == image.index()[REF].digest
    assert uploaded == sum(d.size for d in image.blobs_of(REF)[1:])
    again, uploaded_again = registry.push(client, image, REF)
    assert (again, uploaded_again) == (digest, 0)  # HEAD finds every blob: nothing re-sent
    assert registry.pull_check(client, "coredns/coredns", "v9.9.9") == digest


def test_push_and_pull_against_a_fake_registry(fake: str, image: oci.ImageLayout) -> None:
    _push_twice_and_pull(fake, image)
    assert len(FakeRegistry.uploads) == 3  # config + 2 layers, each once


def test_target_strips_the_registry_host() -> None:
    assert registry.target_of("registry.k8s.io/coredns/coredns:v1.12.1") == (
        "coredns/coredns", "v1.12.1")
    assert registry.target_of("ghcr.io/flannel-io/flannel:v0.28.10") == (
        "flannel-io/flannel", "v0.28.10")


def test_unreachable_registry_is_a_clear_error() -> None:
    client = registry.RegistryClient(f"http://127.0.0.1:{_free_port()}")
    assert not client.ping()
    with pytest.raises(Exception, match="does not answer"):
        client.catalog()


REAL = MirrorLayout.default().build_dir("registry", REGISTRY_VERSION) / "registry"


@pytest.mark.skipif(not REAL.is_file(), reason=f"registry binary not built ({REAL}); run "
                    "`kubeforge mirror build --only registry`")
def test_push_and_pull_against_the_real_registry(tmp_path: Path,
                                                 image: oci.ImageLayout) -> None:
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "store")}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen([str(REAL), "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        client = registry.RegistryClient(base)
        deadline = time.monotonic() + 15
        while not client.ping():
            assert time.monotonic() < deadline, "registry did not start"
            time.sleep(0.1)
        _push_twice_and_pull(base, image)
        assert client.catalog() == ["coredns/coredns"]
        assert client.tags("coredns/coredns") == ["v9.9.9"]
        body, media = client.get_manifest("coredns/coredns", "v9.9.9")
        assert media == oci.MEDIA_MANIFEST
        assert json.loads(body)["config"]["mediaType"] == oci.MEDIA_CONFIG
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_server_that_exits_at_once_is_started_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Right after another lab's `down` stopped the mirror, a new server may exit at once (its
    port still held for a moment): start tries again, and says which way it failed."""
    from kubeforge.mirror import serve

    spawned: list[str] = []
    waits = iter([serve.ServerExited("exited after 0.1 s"), None, None])

    def wait(layout: MirrorLayout, svc: Any, url: str) -> None:
        outcome = next(waits)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(serve, "_pid", lambda layout, svc: None)
    monkeypatch.setattr(serve, "_spawn", lambda layout, svc, cmd: spawned.append(svc.name))
    monkeypatch.setattr(serve, "_wait_ready", wait)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    lay = MirrorLayout(tmp_path)
    lay.run.mkdir(parents=True)
    serve._start_locked(lay, tmp_path / "registry", "127.0.0.1")
    assert spawned == ["registry", "files", "registry", "files"]

    monkeypatch.setattr(serve, "_wait_ready", lambda layout, svc, url: (_ for _ in ()).throw(
        serve.ServerExited("exited")))
    with pytest.raises(serve.ServerExited):
        serve._start_locked(lay, tmp_path / "registry", "127.0.0.1")
    assert len(spawned) == 4 + 2 * serve.START_ATTEMPTS
