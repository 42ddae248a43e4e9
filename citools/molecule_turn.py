"""The Molecule scenarios CI runs (`make molecule-ci`): every fast one, then one of the others by
turn, the turn being the commit count of HEAD, so each commit of main runs the next one and a
scenario waits at most as many commits as there are slow ones. The turn's scenario runs only when
the time CI has spent so far (KUBEFORGE_CI_STARTED, epoch seconds) leaves it room in CI's budget
(KUBEFORGE_CI_BUDGET seconds, the warm machine's 50 minutes unless told): on a machine that built
its mirror from cold in the same run it does not, and the output says so. `make molecule` runs
them all.

    python -m citools.molecule_turn [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from citools import times as times_file
from kubeforge import paths

# under a minute each on the lab: they need no cluster
FAST = ("preflight", "node_prep", "containerd", "kube_binaries")
# what a slow scenario is reckoned to take before this machine has timed it (the slowest,
# kubeadm_upgrade, took 624 s)
UNTIMED = 600.0
# left at the end of the budget for what follows the scenarios (the lab's removal, the summary)
MARGIN = 60.0
DEFAULT_BUDGET = 50 * 60.0


@dataclass(frozen=True)
class Choice:
    fast: tuple[str, ...]
    turn: str  # the slow scenario whose turn it is
    turn_no: int  # 1-based, of `slow`
    slow: int  # how many slow scenarios take turns


def scenarios(root: Path) -> list[str]:
    """Every scenario under molecule/ (a folder with a molecule.yml)."""
    return sorted(p.parent.name for p in (root / "molecule").glob("*/molecule.yml"))


def choose(names: Sequence[str], commits: int) -> Choice:
    fast = tuple(n for n in FAST if n in names)
    slow = sorted(set(names) - set(FAST))
    if not slow:
        raise ValueError("no scenario besides the fast ones under molecule/")
    i = commits % len(slow)
    return Choice(fast, slow[i], i + 1, len(slow))


def room_for(turn: str, spent: float, budget: float, times: Mapping[str, float]) -> bool:
    """Whether the turn's scenario, at the time it took last on this machine, ends within the
    budget with the margin left."""
    return spent + times.get(turn, UNTIMED) + MARGIN <= budget


def _commits() -> int:
    out = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=paths.ROOT,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def _run(name: str) -> tuple[bool, float]:
    print(f"[molecule] molecule test -s {name}", flush=True)
    started = time.monotonic()
    rc = subprocess.run(["molecule", "test", "-s", name], cwd=paths.ROOT, check=False).returncode
    took = time.monotonic() - started
    print(f"[molecule] {name}: {'passed' if rc == 0 else f'FAILED (rc {rc})'} in {took:.0f} s",
          flush=True)
    return rc == 0, took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    args = parser.parse_args(argv)
    choice = choose(scenarios(paths.ROOT), _commits())
    times = times_file.load("molecule")
    budget = float(os.environ.get("KUBEFORGE_CI_BUDGET", DEFAULT_BUDGET))
    started = float(os.environ.get("KUBEFORGE_CI_STARTED", time.time()))
    print(f"[molecule] fast: {' '.join(choice.fast)}; turn {choice.turn_no} of {choice.slow}: "
          f"{choice.turn}", flush=True)
    if args.dry_run:
        return 0
    failed: list[str] = []
    for name in choice.fast:
        ok, times[name] = _run(name)
        failed += [] if ok else [name]
    spent = time.time() - started
    if room_for(choice.turn, spent, budget, times):
        ok, times[choice.turn] = _run(choice.turn)
        failed += [] if ok else [choice.turn]
    else:
        print(f"[molecule] {choice.turn} skipped this turn: {spent / 60:.0f} min spent of "
              f"{budget / 60:.0f}, and it took {times.get(choice.turn, UNTIMED):.0f} s "
              f"(`make molecule SCENARIO={choice.turn}` runs it)", flush=True)
    times_file.save("molecule", times)
    if failed:
        print(f"[molecule] failed: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
