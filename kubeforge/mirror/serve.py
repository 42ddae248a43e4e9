"""Serve a built mirror: the OCI registry on ADDR:5000 and the file tree on ADDR:8080.

Both run as detached background processes (own session, pidfile under <mirror>/run/), so they
outlive the `kubeforge` command that started them. `start` also pushes every image of the OCI
layout into the registry (idempotent: blobs already there are skipped).
"""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeforge import daemon
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import oci, registry
from kubeforge.mirror.components import REGISTRY_VERSION
from kubeforge.mirror.fsutil import atomic_write, human_size
from kubeforge.mirror.layout import FILES_PORT, REGISTRY_PORT, MirrorLayout

# a first start right after a build, with the disk busy writing it back, took more than 20 s
READY_TIMEOUT = 60.0
START_ATTEMPTS = 3
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    marker: str  # a string in the process command line that identifies it as ours

    def pidfile(self, layout: MirrorLayout) -> Path:
        return layout.run / f"{self.name}.pid"

    def logfile(self, layout: MirrorLayout) -> Path:
        return layout.run / f"{self.name}.log"

    def url(self, addr: str) -> str:
        return f"http://{addr}:{self.port}"


REGISTRY = Service("registry", REGISTRY_PORT, "registry.yml")
FILES = Service("files", FILES_PORT, "kubeforge.mirror.fileserver")
SERVICES = (REGISTRY, FILES)


def _layout(layout: MirrorLayout | None) -> MirrorLayout:
    return layout or MirrorLayout.default()


def _listen_file(layout: MirrorLayout) -> Path:
    return layout.run / "listen"


def listen_address(layout: MirrorLayout | None = None) -> str | None:
    """The address the mirror was last started on, if any."""
    f = _listen_file(_layout(layout))
    return f.read_text().strip() if f.is_file() else None


def _pid(layout: MirrorLayout, svc: Service) -> int | None:
    """The pid of our running `svc` (a stale pidfile or a reused pid count as none)."""
    return daemon.running(svc.pidfile(layout), svc.marker, str(layout.root))


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except (urllib.error.URLError, OSError):
        return False


def answering(layout: MirrorLayout | None = None) -> dict[str, bool]:
    """Whether each server answers on the address it was started on."""
    addr = listen_address(layout)
    return {svc.name: addr is not None and _answers(svc.url(addr) + ("/v2/" if svc is REGISTRY
                                                                     else "/"))
            for svc in SERVICES}


def is_running(layout: MirrorLayout | None = None) -> bool:
    """True if both servers run (pidfiles alive) and answer."""
    lay = _layout(layout)
    if any(_pid(lay, svc) is None for svc in SERVICES):
        return False
    return all(answering(lay).values())


@contextlib.contextmanager
def _locked(layout: MirrorLayout) -> Iterator[None]:
    """Serialise start/stop across processes (the CLI, the lab and tests share one mirror)."""
    layout.run.mkdir(parents=True, exist_ok=True)
    with (layout.run / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _registry_binary(layout: MirrorLayout) -> Path:
    binary = layout.build_dir("registry", REGISTRY_VERSION) / "registry"
    if not binary.is_file():
        raise KubeforgeError(f"the OCI registry is not built ({binary} is missing): run "
                             "`kubeforge mirror build --only registry`")
    return binary


def _registry_config(layout: MirrorLayout, addr: str) -> Path:
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(layout.registry)},
                    "delete": {"enabled": True}},
        "http": {"addr": f"{addr}:{REGISTRY_PORT}", "secret": secrets.token_hex(16)},
    }
    path = layout.run / REGISTRY.marker
    atomic_write(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path


def _spawn(layout: MirrorLayout, svc: Service, cmd: list[str]) -> None:
    # distribution v3 exports OpenTelemetry traces to localhost:4318 by default; nothing listens.
    daemon.spawn(cmd, svc.pidfile(layout), svc.logfile(layout), cwd=layout.root,
                 env={"OTEL_TRACES_EXPORTER": "none", "OTEL_SDK_DISABLED": "true"})


class ServerExited(KubeforgeError):
    """A mirror server ended before it answered."""


def _wait_ready(layout: MirrorLayout, svc: Service, url: str) -> None:
    started = time.monotonic()
    exited = False
    while time.monotonic() < started + READY_TIMEOUT:
        if _answers(url):
            return
        if _pid(layout, svc) is None:
            exited = True
            break
        time.sleep(0.2)
    log = svc.logfile(layout)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:]) if log.exists() else ""
    how = (f"exited after {time.monotonic() - started:.1f} s" if exited
           else f"did not answer within {READY_TIMEOUT:.0f} s")
    error = ServerExited if exited else KubeforgeError
    raise error(f"the mirror's {svc.name} server for {url} {how} (is the address assigned to "
                f"an interface here? port free?); log {log}:\n{tail}")


def start(listen: str = "127.0.0.1", *, layout: MirrorLayout | None = None,
          push: bool = True) -> dict[str, str]:
    """Start both servers on `listen` (idempotent) and push every built image.

    Returns {upstream image ref: manifest digest} of the images now in the registry.
    """
    lay = _layout(layout)
    if not lay.files.is_dir():
        raise KubeforgeError(f"no mirror at {lay.root}: run `kubeforge mirror build` first")
    binary = _registry_binary(lay)
    lay.registry.mkdir(parents=True, exist_ok=True)
    with _locked(lay):
        _start_locked(lay, binary, listen)
    print(f"[mirror] serving {lay.files} on {FILES.url(listen)} and an OCI registry on "
          f"{REGISTRY.url(listen)}", flush=True)
    return push_images(listen, lay) if push else {}


def _start_locked(lay: MirrorLayout, binary: Path, listen: str) -> None:
    current = listen_address(lay)
    if current is not None and current != listen:
        # One mirror serves one address (the registry binds one); move it, and say so.
        print(f"[mirror] moving the servers from {current} to {listen}", flush=True)
        _stop_locked(lay)
    atomic_write(_listen_file(lay), f"{listen}\n".encode())
    for attempt in range(1, START_ATTEMPTS + 1):
        if _pid(lay, REGISTRY) is None:
            _spawn(lay, REGISTRY, [str(binary), "serve", str(_registry_config(lay, listen))])
        if _pid(lay, FILES) is None:
            _spawn(lay, FILES, [sys.executable, "-m", FILES.marker, "--root", str(lay.files),
                                "--bind", listen, "--port", str(FILES_PORT)])
        try:
            _wait_ready(lay, REGISTRY, f"{REGISTRY.url(local_address(listen))}/v2/")
            _wait_ready(lay, FILES, f"{FILES.url(local_address(listen))}/")
            return
        except ServerExited:
            # seen right after the last lab's `down` stopped the servers: a server that exits
            # at once may find its port still held for a moment by the one that was stopping
            if attempt == START_ATTEMPTS:
                raise
            time.sleep(2 * attempt)


def local_address(listen: str) -> str:
    """Where this host reaches servers listening on `listen` (0.0.0.0 serves every lab)."""
    return "127.0.0.1" if listen == "0.0.0.0" else listen


def push_images(listen: str, layout: MirrorLayout | None = None,
                refs: Iterable[str] | None = None) -> dict[str, str]:
    """Push the layout's images (or only `refs`) into the running registry."""
    lay = _layout(layout)
    images = oci.ImageLayout(lay.images)
    client = registry.RegistryClient(REGISTRY.url(local_address(listen)))
    pushed: dict[str, str] = {}
    for ref in sorted(images.index() if refs is None else refs):
        repo, tag = registry.target_of(ref)
        digest, uploaded = registry.push(client, images, ref)
        pushed[ref] = digest
        sent = f"{human_size(uploaded)} uploaded" if uploaded else "up to date"
        print(f"[mirror] push {ref} -> {listen}:{REGISTRY_PORT}/{repo}:{tag} ({sent})",
              flush=True)
    return pushed


def stop(layout: MirrorLayout | None = None) -> bool:
    """Stop both servers; True if anything was running. Registry data stays."""
    lay = _layout(layout)
    with _locked(lay):
        return _stop_locked(lay)


def _stop_locked(lay: MirrorLayout) -> bool:
    stopped = False
    for svc in SERVICES:
        stopped = daemon.stop(svc.pidfile(lay), svc.marker, str(lay.root)) or stopped
    _listen_file(lay).unlink(missing_ok=True)
    return stopped
