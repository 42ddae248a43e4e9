"""Long mirror builds say how long they have run and how long the last one took."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kubeforge.mirror import progress


def test_last_build_seconds_reads_the_newest_buildinfo(tmp_path: Path) -> None:
    assert progress.last_build_seconds(tmp_path, "BUILDINFO.json") is None
    for version, seconds in (("1.36.3", 700.0), ("1.37.2", 812.4)):
        (tmp_path / version).mkdir()
        (tmp_path / version / "BUILDINFO.json").write_text(json.dumps({"build_seconds": seconds}))
        time.sleep(0.01)
    assert progress.last_build_seconds(tmp_path, "BUILDINFO.json") == 812.4


def test_heartbeat_prints_elapsed_and_previous(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.heartbeat("[mirror] etcd 3.7.0", 125.0, interval=0.05):
        time.sleep(0.18)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2
    assert lines[0] == "[mirror] etcd 3.7.0: still building, 0s so far (the last build took 2m05s)"
    assert progress.status_line("x", 61, None) == "x: still building, 1m01s so far"
