"""Benchmark kubeforge against the raw lower bound (bench/raw.py) on the bench lab.

    python -m bench.run --repeat 2 --workers 2            # deploy, no-op, add 1, add 3
    python -m bench.run --only kubeforge --noops 3        # the same, with three no-op re-runs
    python -m bench.run --repeat 1 --scaling 1,3,5        # bootstrap with 1, 3, 5 workers
    python -m bench.run --report /tmp/kf-bench/results-*.json   # print saved results again

Each round starts from bare machines (`kubeforge lab down` + `lab up` of the bench lab, seconds),
runs the timed phase, then checks that every node is Ready. kubeforge runs write per-task timings
(plugins/callback/kubeforge_timings.py) that the report breaks down by play, role and task. The
machine is shared: every figure carries the load average seen while it ran, and the ratio to the
raw run of the same round matters more than absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import fit, raw
from bench.report import report
from bench.usage import Usage
from kubeforge import paths, versions

ROOT = Path(__file__).resolve().parent.parent
KUBEFORGE = str(ROOT / ".venv" / "bin" / "kubeforge")
KUBECTL = str(Path.home() / ".cache/kubeforge/mirror/files/release"
              / f"v{versions.DEFAULT_KUBERNETES}/bin/linux/amd64/kubectl")
TEMPLATE = ROOT / "bench" / "cluster.template.yml"
NAME = "bench"  # the lab name in the template
MARKER = "  # bench:workers (bench/run.py puts the workers here)"


def write_spec(folder: Path, workers: int) -> Path:
    """The bench spec with `workers` workers (w1.. at .21..), from the committed template."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f"  - {{name: w{i}, address: 10.249.0.{20 + i}, roles: [worker]}}"
                      for i in range(1, workers + 1))
    path = folder / "cluster.yml"
    path.write_text(TEMPLATE.read_text().replace(MARKER, lines))
    return path


def sh(cmd: Sequence[str], log: Path | None = None, env: dict[str, str] | None = None,
       check: bool = True) -> int:
    with open(log, "a") if log else open(os.devnull, "w") as out:
        rc = subprocess.run(list(cmd), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, check=False).returncode
    if check and rc != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {rc}), see {log}")
    return rc


def close_ssh_masters(spec: Path) -> None:
    """Drop Ansible's persistent ssh connections to this lab's addresses (machines replaced)."""
    plan = raw.load(spec.parent)
    cp_dir = Path.home() / ".cache/kubeforge/ansible-cp"
    for node in plan.nodes:
        for user in ("root",):
            sh(["ssh", "-o", f"ControlPath={cp_dir}/%C", "-O", "exit",
                f"{user}@{node.address}"], check=False)


def lab_fresh(spec: Path, log: Path) -> None:
    # on a loaded host a process can outlive SIGKILL for a moment (D state): try again
    for attempt in range(3):
        if sh([KUBEFORGE, "lab", "down", str(spec)], log, check=attempt == 2) == 0:
            break
        time.sleep(5)
    sh([KUBEFORGE, "lab", "up", str(spec)], log)
    sh([KUBEFORGE, "render", str(spec)], log)
    close_ssh_masters(spec)


def lab_down(spec_dir: Path, out: Path) -> None:
    if (spec_dir / "cluster.yml").is_file():
        sh([KUBEFORGE, "lab", "down", str(spec_dir / "cluster.yml")], out / "lab.log", check=False)


def lab_grow(spec: Path, log: Path) -> None:
    sh([KUBEFORGE, "lab", "up", str(spec)], log)
    sh([KUBEFORGE, "render", str(spec)], log)


def admin_conf() -> Path:
    return ROOT / ".cache" / NAME / "admin.conf"


def check_ready(spec: Path, count: int, via_raw: bool, timeout: int = 600) -> None:
    """Every node of the spec registered and Ready (the 'verified' end of each timed phase)."""
    plan = raw.load(spec.parent)
    if via_raw or not admin_conf().exists():
        raw.wait_ready(plan, plan.control_plane[0], count, timeout)
        return
    deadline = time.monotonic() + timeout
    kc = [KUBECTL, "--kubeconfig", str(admin_conf())]
    while True:
        out = subprocess.run([*kc, "get", "nodes", "--no-headers"], capture_output=True,
                             text=True, check=False).stdout.splitlines()
        if len(out) >= count and all(" Ready " in f" {line} " for line in out):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nodes not Ready after {timeout}s: {out}")
        time.sleep(1)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.load0 = os.getloadavg()[0]

    def done(self) -> dict[str, float]:
        return {"seconds": round(time.monotonic() - self.t0, 1),
                "load": round((self.load0 + os.getloadavg()[0]) / 2, 1)}


def kubeforge(action: list[str], spec: Path, count: int, out: Path, tag: str) -> dict[str, Any]:
    """Time one kubeforge command plus the Ready check; keeps its log and task timings."""
    timings = out / f"{tag}.timings.json"
    timer = Timer()
    # a deploy asks before it changes anything unless told --yes
    yes = ["--yes"] if action[0] == "deploy" else []
    with Usage() as used:
        rc = sh([KUBEFORGE, *action, str(spec), *yes], out / f"{tag}.log",
                env={"KUBEFORGE_TIMINGS": str(timings)}, check=False)
    if rc != 0:
        raise RuntimeError(f"kubeforge {' '.join(action)} failed (rc {rc}), see {out}/{tag}.log")
    check_ready(spec, count, via_raw=False)
    result: dict[str, Any] = timer.done()
    doc = json.loads(timings.read_text()) if timings.exists() else {}
    result.update(changed=doc.get("changed"), timings=str(timings), cpu=used.cpu_seconds,
                  peak_mib=used.peak_mib)
    print(f"[bench] kubeforge {tag}: {result['seconds']}s changed={result['changed']} "
          f"load={result['load']} control host: {used.cpu_seconds} CPU s, "
          f"peak {used.peak_mib} MiB", flush=True)
    return result


def raw_timed(fn: Any, tag: str) -> dict[str, Any]:
    timer = Timer()
    with Usage() as used:
        phases = fn()
    result: dict[str, Any] = timer.done()
    result.update(phases=phases, cpu=used.cpu_seconds, peak_mib=used.peak_mib)
    print(f"[bench] raw {tag}: {result['seconds']}s load={result['load']} {phases} "
          f"control host: {used.cpu_seconds} CPU s, peak {used.peak_mib} MiB", flush=True)
    return result


ALL_PHASES = ("deploy", "noop", "add1", "add3")


def round_kubeforge(res: dict[str, Any], spec_dir: Path, workers: int, out: Path, i: int,
                    phases: Sequence[str], add3_to: int, noops: int = 1, key: str = "") -> None:
    """One round from bare machines: `phases` of deploy, noop, add1 (workers+1), add3 (add3_to
    workers); results into `res` under phase+key (the scaling rounds' key is -wN) as they come."""
    log = out / "lab.log"
    spec = write_spec(spec_dir, workers)
    lab_fresh(spec, log)
    res["deploy" + key] = kubeforge(["deploy"], spec, 3 + workers, out,
                                    f"kf-deploy-w{workers}-{i}")
    if "noop" in phases:
        # a no-op is short and cheap to repeat: its min/median says more than one noisy run
        res["noop" + key] = [kubeforge(["deploy"], spec, 3 + workers, out,
                                       f"kf-noop{key}-{i}" + (f"-{n}" if n else ""))
                             for n in range(noops)]
    for phase, after in (("add1", workers + 1), ("add3", add3_to)):
        if phase not in phases:
            continue
        spec = write_spec(spec_dir, after)
        lab_grow(spec, log)
        res[phase + key] = kubeforge(["scale"], spec, 3 + after, out, f"kf-{phase}{key}-{i}")
        res[phase + key]["via"] = "scale"


def round_raw(res: dict[str, Any], spec_dir: Path, workers: int, out: Path,
              phases: Sequence[str], add3_to: int, key: str = "") -> None:
    """The raw bound of the same round (no no-op: raw has no idempotence to measure)."""
    log = out / "lab.log"
    spec = write_spec(spec_dir, workers)
    lab_fresh(spec, log)
    plan = raw.load(spec_dir)
    res["deploy" + key] = raw_timed(lambda: raw.build(plan, out=lambda s: None),
                                    f"deploy-w{workers}")
    before = workers
    for phase, after in (("add1", workers + 1), ("add3", add3_to)):
        if phase not in phases:
            continue
        spec = write_spec(spec_dir, after)
        lab_grow(spec, log)
        grown = raw.load(spec_dir)
        names = [f"w{n}" for n in range(before + 1, after + 1)]
        res[phase + key] = raw_timed(lambda g=grown, n=names: raw.add(g, n, out=lambda s: None),
                                     phase + key)
        before = after


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="workers of the main cluster")
    parser.add_argument("--add3-to", type=int, default=6,
                        help="worker count after adding three at once (the add-1 run ends at "
                             "workers+1)")
    parser.add_argument("--scaling", default="",
                        help="bootstrap with these worker counts, e.g. 1,3,5")
    parser.add_argument("--no-phases", action="store_true",
                        help="skip deploy/no-op/add rounds (only --scaling)")
    parser.add_argument("--noops", type=int, default=1, help="no-op re-runs per round")
    parser.add_argument("--no-add", action="store_true",
                        help="kubeforge rounds without the add-worker runs (deploy and no-ops)")
    parser.add_argument("--only", choices=["kubeforge", "raw"], default=None)
    parser.add_argument("--deploy-only", action="store_true",
                        help="per round only the deploy from bare machines (no no-op/add runs)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kf-bench"),
                        help="where the spec, logs and results go (outside the repository)")
    parser.add_argument("--label", default="")
    parser.add_argument("--report", type=Path, nargs="*", default=None,
                        help="print saved results files (merged) and exit")
    args = parser.parse_args(argv)

    if args.report is not None:
        merged: dict[str, Any] = {"rounds": [], "label": "", "started": ""}
        for p in args.report:
            doc = json.loads(p.read_text())
            merged["rounds"] += doc["rounds"]
            merged["label"] = merged["label"] or doc.get("label", "")
            merged["started"] = merged["started"] or doc.get("started", "")
        print(report(merged))
        return 0

    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = args.dir / "runs" / stamp
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"label": args.label, "started": stamp, "rounds": []}
    path = args.dir / f"results-{stamp}.json"

    def save() -> None:
        path.write_text(json.dumps(results, indent=1))

    # the spec's folder is its inventory: nothing else may live there
    spec_dir = args.dir / "env"
    who = [args.only] if args.only else ["raw", "kubeforge"]
    # a bench lab left by an earlier run would take the room the scaling sizes are checked against
    lab_down(spec_dir, out)
    try:
        run_rounds(args, spec_dir, who, out, results, save)
    finally:
        # the bench lab (up to 44 machines) would keep the host busy after the figures are in
        lab_down(spec_dir, out)
    print(report(results))
    print(f"[bench] results: {path}  logs: {out}")
    return 0


def scaling_sizes(arg: str, lab_dir: Path) -> list[int]:
    """The worker counts of --scaling that this machine holds; a size that does not fit is said
    and replaced by the largest one that does."""
    asked = [int(x) for x in arg.split(",") if x]
    if not asked:
        return []
    room = fit.room(lab_dir)
    sizes = [n for n in asked if room.refuse(n) is None]
    for n in asked:
        if why := room.refuse(n):
            print(f"[bench] scaling: {why} (bench/fit.py); the largest size that fits now: "
                  f"{room.largest()} workers", flush=True)
    if len(sizes) < len(asked) and room.largest() > max(sizes, default=0):
        sizes.append(room.largest())
    return sizes


def run_rounds(args: argparse.Namespace, spec_dir: Path, who: list[str], out: Path,
               results: dict[str, Any], save: Callable[[], None]) -> None:
    phases = [p for p in ALL_PHASES
              if not (args.deploy_only and p != "deploy") and not (args.no_add and "add" in p)]
    # a scaling round: bootstrap, no-op and one added worker at each size
    scaled = [p for p in phases if p != "add3"]
    sizes = scaling_sizes(args.scaling, Path(paths.cache_dir()) / "lab")
    for i in range(args.repeat):
        if not args.no_phases:
            rnd: dict[str, Any] = {}
            results["rounds"].append(rnd)
            for w in who:
                if w == "raw":
                    attempt(rnd, w, round_raw, spec_dir, args.workers, out, phases, args.add3_to)
                else:
                    attempt(rnd, w, round_kubeforge, spec_dir, args.workers, out, i, phases,
                            args.add3_to, args.noops)
                save()
        for n in sizes:
            rnd = {}
            results["rounds"].append(rnd)
            for w in who:
                if w == "raw":
                    attempt(rnd, w, round_raw, spec_dir, n, out, scaled, 0, key=f"-w{n}")
                else:
                    attempt(rnd, w, round_kubeforge, spec_dir, n, out, i, scaled, 0, args.noops,
                            key=f"-w{n}")
                save()


def attempt(rnd: dict[str, Any], who: str, fn: Callable[..., None], *args: Any,
            **kwargs: Any) -> None:
    """One side of a round into rnd[who]; a failure (a run that failed, nodes never Ready) is
    kept as its `failed` note and the bench goes on with the other side and the next size."""
    res: dict[str, Any] = {}
    rnd[who] = res
    try:
        fn(res, *args, **kwargs)
    except RuntimeError as exc:
        lines = [line for line in str(exc).strip().splitlines() if "stack trace" not in line]
        res["failed"] = " / ".join(lines[:1] + lines[-2:]) if lines else "failed"
        print(f"[bench] {who} failed: {res['failed']}", flush=True)

if __name__ == "__main__":
    sys.exit(main())
