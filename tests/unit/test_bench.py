"""The bench's arithmetic: the scaling slopes and table, failures, the room check, the usage
sampler."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench import fit, report, usage


def test_slope_is_the_least_squares_line() -> None:
    assert report.slope([(5, 100.0), (10, 110.0), (20, 130.0), (40, 170.0)]) == pytest.approx(2.0)
    # noise around a line of 1 s per worker
    assert report.slope([(5, 10.0), (10, 16.0), (20, 24.0)]) == pytest.approx(0.9143, abs=1e-3)


def _run(seconds: float, **extra: float) -> dict[str, float]:
    return {"seconds": seconds, "load": 1.0, "cpu": 10.0, "peak_mib": 300.0, **extra}


def test_scaling_table_has_a_row_per_size_and_the_slopes() -> None:
    kf = {f"{ph}-w{n}": [_run(t)] for n, base in ((5, 100.0), (40, 170.0))
          for ph, t in (("deploy", base), ("noop", base / 10), ("add1", base / 5))}
    rw = {f"{ph}-w{n}": [_run(t)] for n, base in ((5, 90.0), (40, 160.0))
          for ph, t in (("deploy", base), ("add1", base / 6))}
    lines = report.scaling(kf, rw, [5, 40])
    rows = [line.split() for line in lines[2:4]]
    assert [r[0] for r in rows] == ["5", "40"]
    assert rows[0][1:4] == ["100.0", "90.0", "1.11"]
    assert "deploy kf 2.00" in lines[-1] and "deploy raw 2.00" in lines[-1]
    assert "noop raw" not in lines[-1]  # raw has nothing to re-run


def test_scaling_table_without_sizes_is_empty() -> None:
    assert report.scaling({}, {}, []) == []


def test_a_failed_side_is_reported_and_the_rest_kept() -> None:
    results = {"rounds": [{"raw": {"failed": "cp3: rc 1 / context deadline exceeded"},
                           "kubeforge": {"deploy-w40": _run(700.0)}}]}
    text = report.report(results)
    assert "raw failed: cp3: rc 1 / context deadline exceeded" in text
    assert "700.0" in text


def test_room_refuses_a_size_that_does_not_fit_and_names_the_largest() -> None:
    gib = 2**30
    room = fit.Room(memory=24 * gib, disk=20 * gib)
    assert room.refuse(5) is None
    why = room.refuse(40)
    assert why is not None and why.startswith("40 workers need disk")
    assert "memory" not in why
    largest = room.largest()
    assert room.refuse(largest) is None and room.refuse(largest + 1) is not None


def test_usage_counts_a_child_process() -> None:
    with usage.Usage(interval=0.05) as used:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
        time.sleep(0.2)
        assert child.pid in usage.descendants(os.getpid())
        child.wait()
    assert used.peak_mib > 1
    assert used.cpu_seconds >= 0
