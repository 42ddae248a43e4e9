"""The `kubeforge` command line. User errors print a message and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeforge import __version__
from kubeforge.errors import KubeforgeError

Handler = Callable[[argparse.Namespace], int]


def _cmd_validate(args: argparse.Namespace) -> int:
    from kubeforge.spec import load_spec, spec_path

    spec = load_spec(args.env, check_files=not args.no_file_checks)
    print(f"{spec_path(args.env)}: valid ({len(spec.hosts)} hosts, Kubernetes "
          f"{spec.kubernetes.version})")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from kubeforge.render import render
    from kubeforge.spec import load_spec, spec_path

    spec = load_spec(args.env)
    out = Path(args.output) if args.output else spec_path(args.env).parent
    for item in render(spec, out):
        print(f"{'wrote' if item.changed else 'unchanged'} {item.path}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from kubeforge import liveplan, runner
    from kubeforge.plan import summary
    from kubeforge.spec import load_spec

    try:
        spec = load_spec(args.env, check_files=False)
        if args.spec:
            print(summary(spec))
            return 0
        plan = runner.read_plan(args.env)
    except KubeforgeError as e:
        # 2 means "changes pending" here: an error is 1
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(liveplan.as_json(plan), indent=1))
    else:
        print(liveplan.render(plan, diffs=not args.no_diff))
    return plan.exit_code


def _cmd_schema(args: argparse.Namespace) -> int:
    from kubeforge.schema import schema_text

    text = schema_text()
    if args.output:
        Path(args.output).write_text(text, "utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    from kubeforge import runner

    # the flags may follow ENV, where argparse hands everything to the ansible arguments
    extra = [a for a in args.ansible_args if a not in ("--expect-no-changes", "--yes", "-y")]
    expect = args.expect_no_changes or "--expect-no-changes" in args.ansible_args
    yes = args.yes or "--yes" in args.ansible_args or "-y" in args.ansible_args
    if args.playbook == "cluster" and not yes and "--check" not in extra \
            and not confirmed(args.env):
        return 1
    return runner.playbook(args.env, args.playbook, extra, expect_no_changes=expect)


def confirmed(env: str) -> bool:
    """Shows the plan and asks on the terminal whether to apply it (`deploy` without --yes)."""
    from kubeforge import liveplan, runner

    if not sys.stdin.isatty():
        raise KubeforgeError(
            f"kubeforge deploy shows what it would change and asks before it changes anything, "
            f"but there is no terminal to ask on — review the changes with `kubeforge plan "
            f"{env}`, then run `kubeforge deploy {env} --yes`")
    plan = runner.read_plan(env)
    print(liveplan.render(plan))
    if plan.exit_code == 0:
        return True  # nothing to change: the run only confirms it (changed=0)
    question = ("The plan is incomplete (see above). Deploy anyway? [y/N] "
                if plan.exit_code == 1 else "Apply these changes? [y/N] ")
    if input(question).strip().lower() in ("y", "yes"):
        return True
    print("Nothing was changed.")
    return False


def _cmd_reset(args: argparse.Namespace) -> int:
    from kubeforge import runner

    extra = [*(["--limit", args.limit] if args.limit else []), "-e", "reset_confirm=true",
             *args.ansible_args]
    return runner.playbook(args.env, "reset", extra)


def _cmd_day2(args: argparse.Namespace) -> int:
    from kubeforge import runner

    op: Day2 = args.op
    rest = list(args.ansible_args)
    for flags, kwargs in op.options:
        # a flag written after ENV (`certs ENV --renew`) lands in the REMAINDER ansible arguments
        if kwargs.get("action") == "store_const" and flags[0] in rest:
            rest.remove(flags[0])
            setattr(args, flags[0].lstrip("-").replace("-", "_"), kwargs["const"])
    extra: list[str] = []
    for dest, var in op.vars:
        value = getattr(args, dest, None)
        if value is not None:
            extra += ["-e", f"{var}={value}"]
    if getattr(args, "limit", None):
        extra += ["--limit", args.limit]
    extra += rest
    return runner.playbook(args.env, op.playbook, extra)


def _cmd_verify(args: argparse.Namespace) -> int:
    from kubeforge import runner

    return runner.verify(args.env, args.pytest_args)


@dataclass(frozen=True)
class Day2:
    """A day-2 operation: one playbook, its options mapped to extra vars."""

    name: str
    playbook: str
    help: str
    # (argparse dest, Ansible extra var) pairs; options left unset are not passed
    vars: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = ()


def _snapshot_name(value: str) -> str:
    # ENV is optional before SNAPSHOT: `restore ENV` alone would take ENV for the snapshot
    if "/" in value or not value.endswith(".db"):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a snapshot file name (etcd-<cluster>-<UTC time>-<node>.db, as "
            "`kubeforge backup ENV` lists it): usage `kubeforge restore ENV SNAPSHOT`")
    return value


_DEAD: tuple[tuple[str, ...], dict[str, Any]] = (
    ("--dead",), {"action": "store_const", "const": "true",
                  "help": "the node is gone for good: never contact it (no drain, no reset); "
                  "its etcd member and Node object are removed from the others"})

# Every operation is idempotent and re-runnable; the declared state stays in the spec.
DAY2: tuple[Day2, ...] = (
    Day2("upgrade", "upgrade", "upgrade the cluster to the spec's kubernetes.version "
         "(one minor at a time)"),
    Day2("scale", "scale", "join the spec's hosts that are not cluster members yet, "
         "leaving healthy nodes alone"),
    Day2("remove-node", "remove-node", "drain, delete and reset one node (etcd member "
         "first for control-plane nodes); then delete it from the spec",
         vars=(("node", "kubeforge_remove_node"), ("dead", "kubeforge_remove_node_dead")),
         options=((("node",), {"help": "the node to remove (its name in the spec, or in the "
                               "cluster once the spec no longer lists it)"}),
                  _DEAD)),
    Day2("replace-node", "replace-node", "put NEW, a host of the spec listed in OLD's place, "
         "in OLD's place in the cluster (join NEW, remove OLD; OLD first when it is dead)",
         vars=(("old", "kubeforge_replace_old"), ("new", "kubeforge_replace_new"),
               ("dead", "kubeforge_remove_node_dead")),
         options=((("old",), {"help": "the node to replace (a cluster node the spec no "
                              "longer lists)"}),
                  (("new",), {"help": "the host of the spec that takes its place"}),
                  _DEAD)),
    Day2("backup", "etcd-backup", "take an etcd snapshot with a checksum (and keep the "
         "newest N)"),
    Day2("restore", "etcd-restore", "restore every etcd member from one snapshot (a "
         "cluster that already runs on it is left alone unless --again)",
         vars=(("snapshot", "kubeforge_etcd_restore_snapshot"),
               ("again", "kubeforge_etcd_restore_again")),
         options=((("snapshot",), {"type": _snapshot_name,
                                   "help": "snapshot file name on the control-plane nodes "
                                   "(as listed by `kubeforge backup`)"}),
                  (("--again",), {"action": "store_const", "const": "true",
                                  "help": "restore even when every member already runs on this "
                                  "snapshot (rewinds what was written since)"}))),
    Day2("certs", "certs", "check certificate expiry; --renew renews them node by node",
         vars=(("renew", "kubeforge_certs_renew"),),
         options=((("--renew",), {"action": "store_const", "const": "true",
                                  "help": "renew with kubeadm certs renew"}),)),
)


def _env(p: argparse.ArgumentParser) -> None:
    p.add_argument("env", nargs="?", default="lab",
                   help="environment name (inventories/ENV/cluster.yml) or a spec path")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubeforge", description="Declarative provisioner for HA kubeadm clusters.",
        epilog="Exit codes: 0 success, 2 invalid input or a failed step, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"kubeforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a cluster spec and list every problem")
    _env(p)
    p.add_argument("--no-file-checks", action="store_true",
                   help="skip checks that referenced files (SSH key, mirror table) exist")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("render", help="write the Ansible inventory from the spec")
    _env(p)
    p.add_argument("--output", help="folder to write into (default: the spec's folder)")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser(
        "plan", help="show what a deploy would change, host by host, without changing anything",
        description="Reads the live hosts (the deploy in check mode) and lists, by host and step, "
                    "the files, packages, binaries, services, kubeadm actions, node joins and "
                    "Helm releases a deploy would change; secrets are masked. Exit code: 0 "
                    "nothing to do, 2 changes pending, 1 error (a host did not answer, a task "
                    "failed).")
    _env(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--no-diff", action="store_true", help="list the changes without diffs")
    p.add_argument("--spec", action="store_true",
                   help="only summarise what the spec builds (no host is read)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("schema", help="print the JSON Schema of cluster.yml")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.set_defaults(func=_cmd_schema)

    for name, book, what in (
            ("deploy", "cluster", "render and run playbooks/cluster.yml (idempotent)"),
            ("addons", "addons", "render and run only playbooks/addons.yml on a built cluster")):
        p = sub.add_parser(name, help=what)
        _env(p)
        p.add_argument("--expect-no-changes", action="store_true",
                       help="exit 3 unless every host reports changed=0 (idempotence check)")
        p.add_argument("-y", "--yes", action="store_true",
                       help="do not show the plan and ask first (deploy asks on a terminal, and "
                            "stops without one)")
        p.add_argument("ansible_args", nargs=argparse.REMAINDER,
                       help="extra ansible-playbook arguments (for example --check --diff)")
        p.set_defaults(func=_cmd_deploy, playbook=book)

    p = sub.add_parser("reset", help="tear the cluster down on all nodes or --limit NODES")
    _env(p)
    p.add_argument("--limit", help="only these nodes (an Ansible host pattern)")
    p.add_argument("ansible_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_reset)

    for op in DAY2:
        p = sub.add_parser(op.name, help=op.help)
        _env(p)
        for flags, kwargs in op.options:
            p.add_argument(*flags, **kwargs)
        p.add_argument("ansible_args", nargs=argparse.REMAINDER,
                       help="extra ansible-playbook arguments (for example --check)")
        p.set_defaults(func=_cmd_day2, op=op)

    p = sub.add_parser("verify", help="run the testinfra checks against the environment's hosts")
    _env(p)
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_verify)

    for module in ("kubeforge.lab.cli", "kubeforge.mirror.cli", "kubeforge.status",
                   "kubeforge.stack.cli", "kubeforge.conformance.cli"):
        _register_optional(module, sub)
    return parser


def _register_optional(module: str, sub: argparse._SubParsersAction[argparse.ArgumentParser],
                       ) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        # A broken optional part must not take validate/render/plan down with it.
        name = module.split(".")[1]
        reason = str(e)
        p = sub.add_parser(name, help=f"(unavailable: {reason})")
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def unavailable(_: argparse.Namespace) -> int:
            raise KubeforgeError(f"`kubeforge {name}` is unavailable here: {reason} — "
                                 "reinstall kubeforge (`make setup`)")

        p.set_defaults(func=unavailable)
        return
    mod.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Handler = args.func
    try:
        return func(args)
    except KubeforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


