"""Run the project's playbooks and the verify suite against an environment's inventory."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from kubeforge import addons, liveplan, paths, status
from kubeforge.errors import KubeforgeError
from kubeforge.lock import env_lock
from kubeforge.outcome import Outcome
from kubeforge.render import render
from kubeforge.spec import ClusterSpec, load_spec, spec_path


def _tool(name: str) -> str:
    # prefer the tool installed next to this interpreter (the project's virtualenv)
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise KubeforgeError(f"{name} is not installed — run `make setup`")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(paths.ROOT / "ansible.cfg"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# Ansible runs a task on at most `forks` hosts at once; the rest wait for a free fork. Each fork
# spends most of its time waiting on SSH, so one per host (to a ceiling that keeps a control host's
# memory in bounds: about 40 MiB per fork) runs each task everywhere at once. ANSIBLE_FORKS, when
# set, wins.
FORKS_FLOOR = 10
FORKS_CEILING = 64


def forks_env(hosts: int) -> dict[str, str]:
    if "ANSIBLE_FORKS" in os.environ:
        return {}
    return {"ANSIBLE_FORKS": str(max(FORKS_FLOOR, min(hosts, FORKS_CEILING)))}


def prepare(env_name: str) -> Path:
    """Validate the spec and render its inventory; returns the inventory folder."""
    inventory = spec_path(env_name).parent
    for item in render(load_spec(env_name), inventory):
        if item.changed:
            shown = item.path.relative_to(paths.ROOT) if item.path.is_relative_to(paths.ROOT) \
                else item.path
            print(f"[kubeforge] rendered {shown}")
    return inventory


RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)")
PLAY = re.compile(r"^PLAY \[(.*)\] \*+")


def run(cmd: Sequence[str], what: str, extra_env: dict[str, str] | None = None,
        log: Path | None = None) -> tuple[int, dict[str, int]]:
    """Run `cmd`, streaming its output; returns the exit code and, for a playbook, the changed
    count per host from its recap. With `log`, the output goes to that file and only the plays'
    names, like every line of this function's own, go to stderr (stdout stays the caller's)."""
    shown = sys.stderr if log else sys.stdout
    started = time.monotonic()
    print(f"[kubeforge] {what}: {' '.join(cmd)}" + (f" (log: {log})" if log else ""),
          file=shown, flush=True)
    changed: dict[str, int] = {}
    outcome = Outcome()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(log.open("w")) if log else sys.stdout
        proc = stack.enter_context(subprocess.Popen(
            list(cmd), cwd=paths.ROOT, env={**_env(), **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1))
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            outcome.feed(line)
            if m := RECAP.match(line):
                changed[m.group(1)] = int(m.group(2))
            elif log and (m := PLAY.match(line)):
                print(f"[kubeforge]   {m.group(1)}", file=shown, flush=True)
        rc = proc.wait()
    print(f"[kubeforge] {what} {'done' if rc == 0 else f'FAILED (rc {rc})'} in "
          f"{time.monotonic() - started:.0f}s", file=shown, flush=True)
    if rc != 0:
        for stop in outcome.stops:
            print(f"[kubeforge]   {stop.line()}", file=shown, flush=True)
    return rc, changed


def playbook(env_name: str, name: str, extra: Sequence[str] = (),
             expect_no_changes: bool = False) -> int:
    book = paths.ROOT / "playbooks" / f"{name}.yml"
    if not book.is_file():
        raise KubeforgeError(f"no playbook {book}")
    spec = load_spec(env_name, check_files=False)
    command = f"kubeforge {' '.join(sys.argv[1:]) or name}"
    with env_lock(spec.name, command):
        inventory = prepare(env_name)
        # the nodes' run lock (kubeforge.cluster.run_lock) names this command as its holder
        rc, changed = run([_tool("ansible-playbook"), "-i", str(inventory), str(book), *extra],
                          f"playbook {name} on {env_name}",
                          {"KUBEFORGE_COMMAND": command, **forks_env(len(spec.hosts))})
        if rc != 0 and takes_run_locks(book) and "--check" not in extra:
            release_ended_locks(inventory, env_name, len(spec.hosts))
    total = sum(changed.values())
    print(f"[kubeforge] changed={total} ({', '.join(f'{h}={n}' for h, n in changed.items())})")
    if rc == 0 and expect_no_changes and total:
        print(f"[kubeforge] expected no changes on a converged {env_name}, got {total}",
              file=sys.stderr)
        return 3
    return rc


def takes_run_locks(book: Path) -> bool:
    """Whether the playbook, or one it imports, takes the nodes' run lock
    (playbooks/tasks/take-run-lock.yml)."""
    text = book.read_text()
    imported = re.findall(r"import_playbook:\s*([\w./-]+\.yml)", text)
    return "tasks/take-run-lock.yml" in text or any(
        takes_run_locks(book.parent / name) for name in imported if name != book.name)


def release_ended_locks(inventory: Path, env_name: str, hosts: int) -> None:
    """After a failed run, give back the node locks it kept, so that a run from another control
    host is not refused for a run that has ended; a live run's lock is never touched."""
    rc, _ = run([_tool("ansible-playbook"), "-i", str(inventory),
                 str(paths.ROOT / "playbooks" / "release-lock.yml"),
                 "-e", "kubeforge_run_lock_ended=true"],
                f"giving back the run locks of the failed run on {env_name}", forks_env(hosts))
    if rc != 0:
        print("[kubeforge] some nodes kept their run lock (unreachable?); the next run from this "
              "control host takes it over", file=sys.stderr)


def read_plan(env_name: str) -> liveplan.Plan:
    """What `kubeforge deploy ENV` would change, read from the live hosts without changing them:
    the deploy playbook in check mode with --diff, recorded by the kubeforge_plan callback. Its
    output goes to a log file; the plays' names are printed to stderr as it goes."""
    spec = load_spec(env_name, check_files=False)
    logs = paths.cache_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"plan-{env_name.replace('/', '_')}.log"
    with env_lock(spec.name, f"kubeforge plan {env_name}"), \
            tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(sys.stderr):
            inventory = prepare(env_name)
        record = Path(tmp) / "plan.json"
        rc, _ = run([_tool("ansible-playbook"), "-i", str(inventory),
                     str(paths.ROOT / "playbooks" / "cluster.yml"), "--check", "--diff"],
                    f"reading {env_name} in check mode (nothing changes)",
                    {"KUBEFORGE_PLAN": str(record), **forks_env(len(spec.hosts))}, log=log)
        data = json.loads(record.read_text()) if record.exists() else {}
    plan = liveplan.from_records(data)
    if rc != 0 and not plan.failed and not plan.unreachable:
        plan.failed.append({"host": "", "role": "", "task": "ansible-playbook",
                            "msg": f"rc {rc}, see {log}"})
    releases = addons.expand(spec)
    if liveplan.after_init(plan, spec, releases):
        return plan  # no cluster yet: no members, no deployed values to read
    _release_values(spec, releases, plan)
    if paths.admin_kubeconfig(spec.name).is_file():
        # nodes and etcd members the spec does not name (the check run cannot see those)
        report = status.membership(spec)
        plan.outside = liveplan.outside_spec(spec, report)
        plan.notes += [f"could not read the cluster's members: {e}" for e in report.errors]
    return plan


def _release_values(spec: ClusterSpec, releases: list[addons.PlannedRelease],
                    plan: liveplan.Plan) -> None:
    """Gives each release the plan would install or upgrade its values diff (secrets masked),
    read with helm on the first control-plane node."""
    planned = {(r.namespace, r.name): r for r in releases}
    for i, change in enumerate(plan.changes):
        key = liveplan.release_key(change)
        if key not in planned:
            continue
        ns, name = key
        try:
            out = status.ssh(spec, spec.control_plane[0],
                             f"helm --kubeconfig /etc/kubernetes/admin.conf get values "
                             f"{shlex.quote(name)} -n {shlex.quote(ns)} -o json 2>/dev/null "
                             "|| echo '\"absent\"'")
            deployed = json.loads(out)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            plan.notes.append(f"values of {ns}/{name} not read: {e}")
            continue
        # helm prints null for a release without values of its own
        plan.changes[i] = liveplan.with_values(
            change, planned[key], None if deployed == "absent" else deployed or {})


def verify(env_name: str, extra: Sequence[str] = ()) -> int:
    inventory = prepare(env_name)
    rc, _ = run([_tool("pytest"), "-p", "no:cacheprovider", str(paths.ROOT / "tests" / "verify"),
                 "--ansible-inventory", str(inventory), *extra], f"verify {env_name}")
    return rc
