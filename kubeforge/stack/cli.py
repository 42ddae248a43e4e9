"""`kubeforge pulumi ENV -- ARGS` and `kubeforge pulumi-env ENV`: Pulumi with the offline toolchain.

`kubeforge pulumi lab -- up --yes` is `pulumi up --yes -s lab` in stacks/cluster, with the stack
created on first use. `eval "$(kubeforge pulumi-env lab)"` sets the same environment in a shell,
for running `pulumi` by hand.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess

from kubeforge.errors import KubeforgeError
from kubeforge.spec import load_spec
from kubeforge.stack import toolchain

# what `pulumi-env` exports (the rest of the environment is the caller's own)
EXPORTED = ("PATH", "PULUMI_HOME", "PULUMI_SKIP_UPDATE_CHECK",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PULUMI_PYTHON_CMD",
            "PULUMI_BACKEND_URL")


def stack_env(env_name: str) -> dict[str, str]:
    is_lab = load_spec(env_name, check_files=False).lab is not None
    env = toolchain.prepare(toolchain.LAB_PASSPHRASE if is_lab else None)
    if not (env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise KubeforgeError(
            f"stack {env_name!r} keeps its secrets (the kubeconfig) encrypted: set "
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE first")
    return env


def _pulumi(env: dict[str, str], args: list[str], check: bool = True) -> int:
    cmd = [str(toolchain.bin_dir() / "pulumi"), *args]
    rc = subprocess.run(cmd, cwd=toolchain.STACKS, env=env, check=False).returncode
    if check and rc != 0:
        raise KubeforgeError(f"`pulumi {' '.join(args)}` failed (exit {rc})")
    return rc


def _cmd_pulumi(args: argparse.Namespace) -> int:
    rest = args.pulumi_args[1:] if args.pulumi_args[:1] == ["--"] else args.pulumi_args
    if not rest:
        raise KubeforgeError("no pulumi command: `kubeforge pulumi ENV -- up --yes` (or preview, "
                             "destroy, stack output ...)")
    env = stack_env(args.env)
    _pulumi(env, ["stack", "select", "--create", args.env])
    return _pulumi(env, [*rest, "--stack", args.env], check=False)


def _cmd_pulumi_env(args: argparse.Namespace) -> int:
    return main_env(args.env)


def main_env(env_name: str) -> int:
    env = stack_env(env_name)
    for name in EXPORTED:
        if name in env:
            print(f"export {name}={shlex.quote(env[name])}")
    # only the lab's published passphrase: a user's own stays in their shell, never printed
    if env.get("PULUMI_CONFIG_PASSPHRASE") == toolchain.LAB_PASSPHRASE:
        print(f"export PULUMI_CONFIG_PASSPHRASE={toolchain.LAB_PASSPHRASE}")
    print(f"cd {shlex.quote(str(toolchain.STACKS))}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pulumi", help="run pulumi on stack ENV (stacks/cluster) with the offline "
                       "toolchain: kubeforge pulumi ENV -- up --yes")
    p.add_argument("env", help="environment (and stack) name")
    p.add_argument("pulumi_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_pulumi)
    p = sub.add_parser("pulumi-env", help="print the shell exports that run pulumi offline "
                       "(eval \"$(kubeforge pulumi-env ENV)\")")
    p.add_argument("env", nargs="?", default="lab")
    p.set_defaults(func=_cmd_pulumi_env)
