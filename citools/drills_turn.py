"""The fault drills `make e2e` runs, in their order, as many as CI's time limit leaves room for.

CI must end within KUBEFORGE_CI_LIMIT seconds (80 minutes: a fresh machine, which builds its
mirror and the conformance suite in the same run, about 45 minutes of it). The drills run as a
prefix of their list: each one whose time on this machine (recorded at its last run; UNTIMED
before that) still fits before the limit, with what follows the drills in CI (the Pulumi stack
and Molecule's fast scenarios) left. On a warm machine that is every drill; on a fresh one
the later ones are left to `make drills`, and the output names them. Outside CI (no
KUBEFORGE_CI_STARTED) every drill runs.

    python -m citools.drills_turn --env lab tests/drills/test_a.py tests/drills/test_b.py::test_x
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from citools import times as times_file
from kubeforge import paths

# a drill this machine has not timed yet (most take one to three minutes on the lab)
UNTIMED = 150.0
# what CI runs after the drills: the Pulumi stack (about 7 minutes; 21 on a fresh machine, which
# builds the Pulumi CLI and the kubernetes provider first: 813 s), Molecule's fast scenarios
# (about 4), the labs' removal and a margin
REST = 13 * 60.0
REST_FRESH = 27 * 60.0
DEFAULT_LIMIT = 80 * 60.0


def rest() -> float:
    """What follows the drills in CI: more on a machine without the Pulumi provider yet."""
    from kubeforge.stack import toolchain

    return REST if toolchain.provider_installed() else REST_FRESH


def fitting(drills: Sequence[str], spent: float | None, limit: float,
            times: Mapping[str, float], after: float = REST) -> tuple[list[str], list[str]]:
    """(the drills to run, the ones left out): the longest prefix that ends, at the recorded
    times, with `after` seconds left before the limit; all of them without a CI start time."""
    if spent is None:
        return list(drills), []
    end = spent
    for i, drill in enumerate(drills):
        end += times.get(drill, UNTIMED)
        if end + after > limit:
            return list(drills[:i]), list(drills[i:])
    return list(drills), []


def durations(junit: Path) -> dict[str, float]:
    """Seconds per drill (a file, or file::test as given) from pytest's junit report."""
    out: dict[str, float] = {}
    for case in ET.parse(junit).iter("testcase"):
        module = (case.get("classname") or "").replace(".", "/") + ".py"
        took = float(case.get("time") or 0)
        out[module] = out.get(module, 0.0) + took
        out[f"{module}::{case.get('name', '')}"] = took
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    parser.add_argument("drills", nargs="+")
    args = parser.parse_args(argv)
    times = times_file.load("drills")
    started = os.environ.get("KUBEFORGE_CI_STARTED")
    spent = time.time() - float(started) if started else None
    limit = float(os.environ.get("KUBEFORGE_CI_LIMIT", DEFAULT_LIMIT))
    run, left = fitting(args.drills, spent, limit, times, rest())
    if left:
        print(f"[drills] {len(left)} of {len(args.drills)} left to `make drills`: CI has spent "
              f"{(spent or 0) / 60:.0f} min of its {limit / 60:.0f} (this run built what a warm "
              f"machine has cached): {' '.join(left)}", flush=True)
    if args.dry_run or not run:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "drills.xml"
        rc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s",
                             f"--junitxml={junit}", *run, "--env", args.env],
                            cwd=paths.ROOT, check=False).returncode
        if junit.exists():
            found = durations(junit)
            times.update({d: found[d] for d in run if d in found})
            times_file.save("drills", times)
    return rc


if __name__ == "__main__":
    sys.exit(main())
