"""Which Molecule scenarios CI runs (citools/molecule_turn.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from citools.molecule_turn import FAST, MARGIN, UNTIMED, choose, room_for, scenarios
from kubeforge import paths

NAMES = ["addons", "cni", "containerd", "kube_binaries", "node_prep", "preflight", "zeta"]


def test_every_role_has_a_scenario_and_the_fast_ones_exist() -> None:
    found = scenarios(paths.ROOT)
    roles = sorted(p.name for p in (paths.ROOT / "roles").iterdir() if (p / "tasks").is_dir())
    assert found == roles
    assert set(FAST) <= set(found)


def test_the_fast_ones_run_every_time_and_the_others_take_turns() -> None:
    turns = [choose(NAMES, commits) for commits in range(6)]
    assert {c.fast for c in turns} == {FAST}
    assert [c.turn for c in turns] == ["addons", "cni", "zeta"] * 2
    assert [(c.turn_no, c.slow) for c in turns[:3]] == [(1, 3), (2, 3), (3, 3)]


def test_a_turn_needs_other_scenarios(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="besides the fast ones"):
        choose(list(FAST), 7)
    assert scenarios(tmp_path) == []


@pytest.mark.parametrize(("spent", "times", "runs"), [
    (2400.0, {"cni": 300.0}, True),
    (3000.0 - 300 - MARGIN, {"cni": 300.0}, True),
    (3000.0 - 300 - MARGIN + 1, {"cni": 300.0}, False),
    (3000.0 - UNTIMED - MARGIN + 1, {}, False),  # never timed here: reckoned at UNTIMED
    (4500.0, {"cni": 1.0}, False),  # a cold machine is past the budget already
])
def test_the_turn_runs_only_within_the_budget(
        spent: float, times: dict[str, float], runs: bool) -> None:
    assert room_for("cni", spent, 3000.0, times) is runs
