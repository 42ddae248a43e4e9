"""Progress of long mirror steps: a line every minute with the time spent so far and, where
this machine built the same component before, how long that took."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeforge.mirror.fsutil import human_duration

INTERVAL = 60.0


def last_build_seconds(component_dir: Path, buildinfo: str) -> float | None:
    """`build_seconds` of the newest finished build of a component (any version), if any."""
    infos = sorted(component_dir.glob(f"*/{buildinfo}"), key=lambda p: p.stat().st_mtime)
    for info in reversed(infos):
        try:
            seconds = json.loads(info.read_text()).get("build_seconds")
        except (OSError, ValueError):
            continue
        if isinstance(seconds, int | float):
            return float(seconds)
    return None


def last_took(previous: float | None) -> str:
    """The suffix " (the last build took 9m32s)", or "" when this machine never built it."""
    return f" (the last build took {human_duration(previous)})" if previous else ""


def status_line(label: str, elapsed: float, previous: float | None) -> str:
    return f"{label}: still building, {human_duration(elapsed)} so far{last_took(previous)}"


@contextmanager
def heartbeat(label: str, previous: float | None, interval: float = INTERVAL) -> Iterator[None]:
    """Print `status_line` every `interval` seconds while the body runs."""
    done = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not done.wait(interval):
            print(status_line(label, time.monotonic() - start, previous), flush=True)

    thread = threading.Thread(target=beat, name="mirror-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
