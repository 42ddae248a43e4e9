"""`kubeforge lab up|down|status|ssh|stop|start`."""

from __future__ import annotations

import argparse
import os
import shutil

from kubeforge.errors import KubeforgeError
from kubeforge.lab import ops, ssh
from kubeforge.lab.model import LabPlan, load_plan

DEFAULT_ENV = "lab"


def _plan(args: argparse.Namespace) -> LabPlan:
    return load_plan(args.env)


def _up(args: argparse.Namespace) -> int:
    ops.up(_plan(args))
    return 0


def _down(args: argparse.Namespace) -> int:
    problems = ops.down(_plan(args))
    for p in problems:
        print(f"left behind: {p}")
    return 1 if problems else 0


def _status(args: argparse.Namespace) -> int:
    plan = _plan(args)
    rows = ops.status(plan)
    print(ops.format_status(plan, rows))
    return 0 if rows and all(r.running and r.ssh for r in rows) else 1


def _ssh(args: argparse.Namespace) -> int:
    plan = _plan(args)
    m = plan.machine(args.host)
    if not plan.ssh_key.is_file() or not plan.known_hosts.is_file():
        raise KubeforgeError(f"lab {plan.name!r} has no SSH key yet: run `kubeforge lab up`")
    if shutil.which("ssh") is None:
        raise KubeforgeError("`ssh` is not installed — `apt-get install openssh-client`")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = ssh.ssh_argv(plan, m, command)
    os.execvp(argv[0], argv)  # hands the terminal and the exit code to ssh


def _stop(args: argparse.Namespace) -> int:
    ops.stop_machine(_plan(args), args.host)
    return 0


def _start(args: argparse.Namespace) -> int:
    ops.start_machine(_plan(args), args.host)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lab = subparsers.add_parser(
        "lab",
        help="run the spec's hosts as machines on this host (systemd-nspawn, root only)",
        description="Machines with systemd, sshd and their own network namespace, booted "
        "from one cached Debian rootfs. Needs root, systemd-container and debootstrap.",
    )
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")

    def env_arg(p: argparse.ArgumentParser, positional: bool) -> None:
        help_ = "environment (inventories/ENV/cluster.yml) or a spec path; default: lab"
        if positional:
            p.add_argument("env", nargs="?", default=DEFAULT_ENV, help=help_)
        else:
            p.add_argument("-e", "--env", default=DEFAULT_ENV, help=help_)

    p = sub.add_parser("up", help="create and boot the machines (idempotent)")
    env_arg(p, True)
    p.set_defaults(func=_up)

    p = sub.add_parser("down", help="remove the machines, their disks and networks")
    env_arg(p, True)
    p.set_defaults(func=_down)

    p = sub.add_parser("status", help="machines, addresses, running, sshd answering (exit 1 "
                       "unless all answer)")
    env_arg(p, True)
    p.set_defaults(func=_status)

    p = sub.add_parser("ssh", help="ssh into a machine as root with the lab's key")
    env_arg(p, False)
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command to run (default: shell)")
    p.set_defaults(func=_ssh)

    p = sub.add_parser("stop", help="power one machine off, keeping its disk")
    env_arg(p, False)
    p.add_argument("host")
    p.set_defaults(func=_stop)

    p = sub.add_parser("start", help="boot a stopped machine again")
    env_arg(p, False)
    p.add_argument("host")
    p.set_defaults(func=_start)
