"""citools.drills_turn: which drills fit before CI's limit, and their recorded times."""

from __future__ import annotations

from pathlib import Path

from citools import drills_turn

DRILLS = ["tests/drills/test_a.py", "tests/drills/test_b.py", "tests/drills/test_c.py::test_x"]


def test_every_drill_runs_outside_ci_and_on_a_warm_machine() -> None:
    assert drills_turn.fitting(DRILLS, None, 4800, {}) == (DRILLS, [])
    assert drills_turn.fitting(DRILLS, 900, 4800, {}) == (DRILLS, [])


def test_a_fresh_machine_leaves_the_later_drills_out() -> None:
    times = {DRILLS[0]: 100.0, DRILLS[1]: 400.0}
    # 56 minutes spent (the mirror built in the same run): 3360 + 100 fits, + 400 does not
    spent = 4800 - drills_turn.REST - 300
    assert drills_turn.fitting(DRILLS, spent, 4800, times) == (DRILLS[:1], DRILLS[1:])
    assert drills_turn.fitting(DRILLS, 4800, 4800, times) == ([], DRILLS)


def test_durations_per_file_and_per_test(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.drills.test_a" name="test_one" time="10.5"/>'
        '<testcase classname="tests.drills.test_a" name="test_two" time="2"/>'
        '<testcase classname="tests.drills.test_c" name="test_x" time="7"/>'
        '</testsuite></testsuites>')
    found = drills_turn.durations(junit)
    assert found[DRILLS[0]] == 12.5
    assert found[DRILLS[2]] == 7.0
