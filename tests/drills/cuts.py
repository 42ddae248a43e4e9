"""Cutting a kubeforge run short, as a person (Ctrl-C: SIGINT to the whole run) or a lost control
host (SIGKILL of the whole run) would, part way through one step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeforge import paths


@dataclass(frozen=True)
class Cut:
    where: str
    task: str  # the end of the step's TASK line, as ansible prints it when the step starts
    after: float  # seconds into the step
    sig: signal.Signals  # what is sent to the whole run (unless the drill does something else)
    # run on the first control-plane node right before the signal, for a step that goes on on the
    # node when the run is gone (empty: nothing)
    on_node: str = ""


def cut_run(args: list[str], cut: Cut, timeout: float = 1200,
            instead: Callable[[], object] | None = None,
            first: Callable[[], object] | None = None) -> str:
    """Starts `kubeforge ARGS`, waits for `cut.task` to start, sends `cut.sig` to the whole run
    after `cut.after` seconds (or calls `instead`, and lets the run end by itself; `first` is
    called right before either); returns the run's output."""
    with tempfile.NamedTemporaryFile(prefix="kubeforge-cut-", suffix=".log", delete=False) as f:
        log = Path(f.name)
    cmd = [str(Path(sys.executable).parent / "kubeforge"), *args]
    print(f"$ {' '.join(cmd[1:])} cut with {cut.sig.name} {cut.after:.0f} s into the "
          f"{cut.where} (output: {log})", flush=True)
    deadline = time.monotonic() + timeout
    with log.open("w") as sink, subprocess.Popen(
            cmd, cwd=paths.ROOT, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True) as proc:
        while cut.task not in log.read_text(errors="replace"):
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before the {cut.where}: "
                            f"{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"no {cut.where} within {timeout:.0f} s")
            time.sleep(0.5)
        time.sleep(cut.after)
        if first is not None:
            first()
        if instead is not None:
            instead()
        else:
            os.killpg(proc.pid, cut.sig)
        try:
            rc = proc.wait(timeout=600 if instead else 120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"the {cut.where} cut did not stop the run")
    out = log.read_text(errors="replace")
    print(f"  stopped: rc {rc}; last lines:\n    " + "\n    ".join(out.splitlines()[-4:]))
    assert "Traceback" not in out, out[-3000:]
    return out
