"""The bench's report: per-phase table with ratios to raw, the scaling table and its slopes, and
kubeforge's per-play/role/task breakdown (from the timings callback's JSON)."""

from __future__ import annotations

import json
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


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
            if phase != "failed":
                kf[phase] += v if isinstance(v, list) else [v]
        for phase, v in r.get("raw", {}).items():
            if phase != "failed":
                rw[phase].append(v)
    failures = [f"{who} failed: {r[who]['failed']}" for r in results["rounds"]
                for who in ("kubeforge", "raw") if "failed" in r.get(who, {})]
    sizes = sorted({int(p.rsplit("-w", 1)[1]) for p in [*kf, *rw] if "-w" in p})
    order = ["deploy", "noop", "add1", "add3",
             *[f"{ph}-w{n}" for n in sizes for ph in ("deploy", "noop", "add1")]]
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
        for who, runs in (("kubeforge", kf.get(phase, [])), ("raw", rw.get(phase, []))):
            if used := _usage(runs):
                notes.append(f"{who} {used}")
        kload = _load([v["load"] for v in kf.get(phase, [])])
        rload = _load([v["load"] for v in rw.get(phase, [])])
        lines.append(f"{phase:<12} {_stats(k):>20} {kload:>5} {_stats(r):>16} {rload:>5}"
                     f" {ratio}  {' '.join(notes)}")
    lines += scaling(kf, rw, sizes)
    lines += failures
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




def _usage(runs: list[dict[str, Any]]) -> str:
    """The control host's median CPU seconds and peak memory over runs (older results lack it)."""
    runs = [v for v in runs if "cpu" in v]
    if not runs:
        return ""
    return (f"{statistics.median([v['cpu'] for v in runs]):.0f} CPU s, "
            f"{max(v['peak_mib'] for v in runs):.0f} MiB")


def _median(runs: list[dict[str, Any]] | None, key: str = "seconds") -> float | None:
    return statistics.median([v[key] for v in runs]) if runs else None


def slope(points: list[tuple[int, float]]) -> float:
    """Seconds per added worker: the least-squares line through (workers, seconds)."""
    mean_n = statistics.mean(n for n, _ in points)
    mean_t = statistics.mean(t for _, t in points)
    spread = sum((n - mean_n) ** 2 for n, _ in points)
    return sum((n - mean_n) * (t - mean_t) for n, t in points) / spread


def scaling(kf: dict[str, list[dict[str, Any]]], rw: dict[str, list[dict[str, Any]]],
            sizes: list[int]) -> list[str]:
    """3 control-plane nodes + N workers: one row per N, then the slope of each column."""
    if not sizes:
        return []
    columns = [("deploy", kf, "kf"), ("deploy", rw, "raw"), ("noop", kf, "kf"),
               ("add1", kf, "kf"), ("add1", rw, "raw")]
    lines = ["scaling: 3 control-plane nodes + N workers, seconds (median), control host CPU s and "
             "peak MiB of kubeforge's deploy / no-op / add-one",
             f"{'N':>4} {'deploy kf':>10} {'raw':>7} {'ratio':>6} {'no-op kf':>9} "
             f"{'add1 kf':>8} {'raw':>7} {'ratio':>6}  {'kf CPU s':>16} {'kf peak MiB':>16}"]

    def cell(v: float | None, width: int, fmt: str = ".1f") -> str:
        return f"{v:{width}{fmt}}" if v is not None else f"{'-':>{width}}"

    for n in sizes:
        t = [_median(table.get(f"{ph}-w{n}")) for ph, table, _ in columns]
        cpu = "/".join(f"{_median(kf.get(f'{ph}-w{n}'), 'cpu') or 0:.0f}"
                       for ph in ("deploy", "noop", "add1"))
        peak = "/".join(f"{_median(kf.get(f'{ph}-w{n}'), 'peak_mib') or 0:.0f}"
                        for ph in ("deploy", "noop", "add1"))
        ratio = [t[0] / t[1] if t[0] and t[1] else None, t[3] / t[4] if t[3] and t[4] else None]
        lines.append(f"{n:>4} {cell(t[0], 10)} {cell(t[1], 7)} {cell(ratio[0], 6, '.2f')} "
                     f"{cell(t[2], 9)} {cell(t[3], 8)} {cell(t[4], 7)} {cell(ratio[1], 6, '.2f')}"
                     f"  {cpu:>16} {peak:>16}")
    slopes = []
    for ph, table, who in columns:
        pts = [(n, m) for n in sizes if (m := _median(table.get(f"{ph}-w{n}"))) is not None]
        if len(pts) > 1:
            slopes.append(f"{ph} {who} {slope(pts):.2f}")
    if slopes:
        lines.append("seconds per added worker (least squares over N): " + ", ".join(slopes))
    return lines
