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
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import raw
from kubeforge import versions

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
    rc = sh([KUBEFORGE, *action, str(spec), *yes], out / f"{tag}.log",
            env={"KUBEFORGE_TIMINGS": str(timings)}, check=False)
    if rc != 0:
        raise RuntimeError(f"kubeforge {' '.join(action)} failed (rc {rc}), see {out}/{tag}.log")
    check_ready(spec, count, via_raw=False)
    result: dict[str, Any] = timer.done()
    doc = json.loads(timings.read_text()) if timings.exists() else {}
    result["changed"] = doc.get("changed")
    result["timings"] = str(timings)
    print(f"[bench] kubeforge {tag}: {result['seconds']}s changed={result['changed']} "
          f"load={result['load']}", flush=True)
    return result


def raw_timed(fn: Any, tag: str) -> dict[str, Any]:
    timer = Timer()
    phases = fn()
    result: dict[str, Any] = timer.done()
    result["phases"] = phases
    print(f"[bench] raw {tag}: {result['seconds']}s load={result['load']} {phases}", flush=True)
    return result


def round_kubeforge(spec_dir: Path, workers: int, out: Path, i: int, extras: bool,
                    add3_to: int, noops: int = 1, adds: bool = True) -> dict[str, Any]:
    res: dict[str, Any] = {}
    log = out / "lab.log"
    spec = write_spec(spec_dir, workers)
    lab_fresh(spec, log)
    res["deploy"] = kubeforge(["deploy"], spec, 3 + workers, out, f"kf-deploy-w{workers}-{i}")
    if not extras:
        return res
    # a no-op is short and cheap to repeat: its min/median says more than one noisy run
    res["noop"] = [kubeforge(["deploy"], spec, 3 + workers, out,
                             f"kf-noop-{i}" + (f"-{n}" if n else "")) for n in range(noops)]
    if not adds:
        return res
    scale = (ROOT / "playbooks" / "scale.yml").exists()
    action = ["scale"] if scale else ["deploy"]
    spec = write_spec(spec_dir, workers + 1)
    lab_grow(spec, log)
    res["add1"] = kubeforge(action, spec, 4 + workers, out, f"kf-add1-{i}")
    res["add1"]["via"] = action[0]
    spec = write_spec(spec_dir, add3_to)
    lab_grow(spec, log)
    res["add3"] = kubeforge(action, spec, 3 + add3_to, out, f"kf-add3-{i}")
    res["add3"]["via"] = action[0]
    return res


def round_raw(spec_dir: Path, workers: int, out: Path, extras: bool,
              add3_to: int) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = {}
    log = out / "lab.log"
    spec = write_spec(spec_dir, workers)
    lab_fresh(spec, log)
    plan = raw.load(spec_dir)

    def deploy() -> dict[str, float]:
        phases = raw.build(plan, out=lambda s: None)
        return phases

    res["deploy"] = raw_timed(deploy, f"deploy-w{workers}")
    if not extras:
        return res
    for tag, before, after in (("add1", workers, workers + 1), ("add3", workers + 1, add3_to)):
        spec = write_spec(spec_dir, after)
        lab_grow(spec, log)
        grown = raw.load(spec_dir)
        names = [f"w{n}" for n in range(before + 1, after + 1)]
        res[tag] = raw_timed(lambda g=grown, n=names: raw.add(g, n, out=lambda s: None), tag)
    return res


# -- report -----------------------------------------------------------------------------------
def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):6.1f} / {statistics.median(values):6.1f}"


def _load(values: list[float]) -> str:
    return f"{statistics.mean(values):4.1f}" if values else "-"


# actions that run on the control host: they cost a worker process, not a round trip to the node
LOCAL_ACTIONS = {"ansible.builtin.set_fact", "set_fact", "ansible.builtin.assert", "assert",
                 "ansible.builtin.meta", "meta", "ansible.builtin.debug", "debug",
                 "ansible.builtin.include_tasks", "include_tasks", "ansible.builtin.import_tasks",
                 "ansible.builtin.include_role", "include_role", "ansible.builtin.fail", "fail",
                 "ansible.builtin.validate_argument_spec", "validate_argument_spec"}


def task_counts(path: str) -> dict[str, int]:
    """Per run: tasks executed (not skipped) in all hosts, and those that reached a node."""
    doc = json.loads(Path(path).read_text())
    ran = remote = 0
    for t in doc["tasks"]:
        for h in t["hosts"].values():
            if h["status"] != "skipped":
                ran += 1
                # a loop is one module run per item that ran
                remote += (t["action"] not in LOCAL_ACTIONS) * max(1, h.get("items", 0))
    return {"task_runs": ran, "remote_runs": remote, "hosts": len(doc["hosts"])}


def breakdown(paths: list[str], top: int = 8) -> list[str]:
    """Median seconds per play, role and task over the given timings files."""
    plays: dict[str, list[float]] = defaultdict(list)
    roles: dict[str, list[float]] = defaultdict(list)
    tasks: dict[str, list[float]] = defaultdict(list)
    for p in paths:
        if not Path(p).exists():
            continue
        doc = json.loads(Path(p).read_text())
        per_play: dict[str, float] = defaultdict(float)
        per_role: dict[str, float] = defaultdict(float)
        per_task: dict[str, float] = defaultdict(float)
        for play in doc["plays"]:
            per_play[play["name"]] += play.get("seconds", 0.0)
        for t in doc["tasks"]:
            per_role[t["role"] or "(play)"] += t.get("seconds", 0.0)
            per_task[t["name"]] += t.get("seconds", 0.0)
        for src, dst in ((per_play, plays), (per_role, roles), (per_task, tasks)):
            for k, v in src.items():
                dst[k].append(v)
    lines: list[str] = []
    counts = [task_counts(p) for p in paths if Path(p).exists()]
    if counts:
        c = counts[0]
        lines.append(f"    task runs (all hosts): {c['task_runs']}, of which reached a node: "
                     f"{c['remote_runs']} ({c['remote_runs'] / max(c['hosts'], 1):.0f} per host)")
    for title, table in (("plays", plays), ("roles", roles), ("tasks", tasks)):
        ranked = sorted(table.items(), key=lambda kv: -statistics.median(kv[1]))[:top]
        lines.append(f"    top {title}:")
        lines += [f"      {statistics.median(v):6.1f}s  {k}" for k, v in ranked]
    return lines


def report(results: dict[str, Any]) -> str:
    kf: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rw: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results["rounds"]:
        for phase, v in r.get("kubeforge", {}).items():
            kf[phase] += v if isinstance(v, list) else [v]
        for phase, v in r.get("raw", {}).items():
            rw[phase].append(v)
    scaled = sorted({p for p in [*kf, *rw] if p.startswith("deploy-w")})
    order = ["deploy", "noop", "add1", "add3", *scaled]
    lines = [f"bench: {results.get('label', '')}  ({results.get('started', '')}, "
             f"{os.cpu_count()} CPUs shared; load = mean 1-min load average while it ran)",
             f"{'phase':<12} {'kubeforge min / med':>20} {'load':>5} {'raw min / med':>16} "
             f"{'load':>5} {'ratio':>6}  notes"]
    for phase in order:
        if phase not in kf and phase not in rw:
            continue
        k = [v["seconds"] for v in kf.get(phase, [])]
        r = [v["seconds"] for v in rw.get(phase, [])]
        ratio = f"{statistics.median(k) / statistics.median(r):6.2f}" if k and r else "     -"
        notes = []
        changed = [v.get("changed") for v in kf.get(phase, []) if v.get("changed") is not None]
        if changed:
            notes.append(f"changed={','.join(str(c) for c in changed)}")
        via = {str(v["via"]) for v in kf.get(phase, []) if v.get("via")}
        if via:
            notes.append(f"via kubeforge {'/'.join(sorted(via))}")
        kload = _load([v["load"] for v in kf.get(phase, [])])
        rload = _load([v["load"] for v in rw.get(phase, [])])
        lines.append(f"{phase:<12} {_stats(k):>20} {kload:>5} {_stats(r):>16} {rload:>5}"
                     f" {ratio}  {' '.join(notes)}")
    scaling = sorted((int(p.removeprefix("deploy-w")), p) for p in scaled)
    if len(scaling) > 1:
        for who, table in (("kubeforge", kf), ("raw", rw)):
            pts = [(n, statistics.median([v["seconds"] for v in table[p]])) for n, p in scaling
                   if table.get(p)]
            if len(pts) > 1:
                (n0, t0), (n1, t1) = pts[0], pts[-1]
                lines.append(f"{who}: {(t1 - t0) / (n1 - n0):.1f}s per added worker at bootstrap "
                             f"({n0} -> {n1} workers: {t0:.0f}s -> {t1:.0f}s)")
    for phase in order:
        paths = [v["timings"] for v in kf.get(phase, []) if v.get("timings")]
        if paths:
            lines.append(f"  kubeforge {phase} breakdown (median over {len(paths)} run(s)):")
            lines += breakdown(paths)
        raws = [v["phases"] for v in rw.get(phase, []) if v.get("phases")]
        if raws:
            keys = [k for k in raws[0] if k != "total"]
            lines.append(f"  raw {phase} phases (median): " + ", ".join(
                f"{k} {statistics.median([p[k] for p in raws]):.1f}s" for k in keys))
    return "\n".join(lines)


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
    try:
        run_rounds(args, spec_dir, who, out, results, save)
    finally:
        # the bench lab (up to 9 machines) would keep the host busy after the figures are in
        if (spec_dir / "cluster.yml").is_file():
            sh([KUBEFORGE, "lab", "down", str(spec_dir / "cluster.yml")], out / "lab.log",
               check=False)
    print(report(results))
    print(f"[bench] results: {path}  logs: {out}")
    return 0


def run_rounds(args: argparse.Namespace, spec_dir: Path, who: list[str], out: Path,
               results: dict[str, Any], save: Callable[[], None]) -> None:
    for i in range(args.repeat):
        if not args.no_phases:
            rnd: dict[str, Any] = {}
            results["rounds"].append(rnd)
            for w in who:
                if w == "raw":
                    rnd["raw"] = round_raw(spec_dir, args.workers, out, not args.deploy_only,
                                           args.add3_to)
                else:
                    rnd["kubeforge"] = round_kubeforge(spec_dir, args.workers, out, i,
                                                       not args.deploy_only, args.add3_to,
                                                       args.noops, not args.no_add)
                save()
        for n in [int(x) for x in args.scaling.split(",") if x]:
            rnd = {}
            results["rounds"].append(rnd)
            for w in who:
                if w == "raw":
                    rnd["raw"] = {f"deploy-w{n}": round_raw(spec_dir, n, out, False, 0)["deploy"]}
                else:
                    rnd["kubeforge"] = {f"deploy-w{n}": round_kubeforge(
                        spec_dir, n, out, i, False, 0)["deploy"]}
                save()


if __name__ == "__main__":
    sys.exit(main())
