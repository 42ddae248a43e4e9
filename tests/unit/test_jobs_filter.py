"""The shell wait for background jobs (plugins/filter/jobs.py), run here against a results file."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType


def _write(path: Path, data: dict[str, object]) -> None:
    # as async_wrapper does: a temporary file renamed over the results file
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.rename(path)


def test_returns_when_the_job_wrote_its_result(
        tmp_path: Path, filter_plugin: Callable[[str], ModuleType]) -> None:
    results = tmp_path / "j1.2"
    _write(results, {"started": True, "finished": False, "ansible_job_id": "j1.2"})
    job = {"results_file": str(results), "ansible_job_id": "j1.2"}
    cmd = filter_plugin("jobs").async_wait_cmd(job, 20)
    done = threading.Timer(1.0, _write, (results, {"changed": True, "stdout": '"finished": false'}))
    done.start()
    started = time.monotonic()
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    assert 0.9 < time.monotonic() - started < 5


def test_gives_up_after_the_timeout_and_says_which_job(
        tmp_path: Path, filter_plugin: Callable[[str], ModuleType]) -> None:
    results = tmp_path / "j3.4"
    _write(results, {"started": 1, "finished": 0, "ansible_job_id": "j3.4"})
    job = {"results_file": str(results), "ansible_job_id": "j3.4"}
    cmd = filter_plugin("jobs").async_wait_cmd(job, "1")
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and "j3.4 still runs after 1 s" in proc.stdout
