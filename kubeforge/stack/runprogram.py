"""Runs one Pulumi Python program for `kubeforge.stack.langhost` (a child process per Run).

The engine's config arrives in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS (JSON); the monitor and
engine addresses, the stack and the dry-run flag come as arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import runpy
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor

import pulumi
import pulumi.runtime

from kubeforge.errors import KubeforgeError

# the program already showed the user an actionable error: the language host answers "bail"
USER_ACTIONABLE_EXIT = 32


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kubeforge.stack.runprogram")
    for flag in ("--monitor", "--engine", "--project", "--stack", "--organization",
                 "--root-directory", "--pwd"):
        ap.add_argument(flag, default="")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    return ap.parse_args(argv)


def configure(args: argparse.Namespace) -> None:
    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(),
                                  pulumi.runtime.get_config_secret_keys_env())
    pulumi.runtime.configure(pulumi.runtime.Settings(
        monitor=args.monitor, engine=args.engine, project=args.project, stack=args.stack,
        parallel=args.parallel, dry_run=args.dry_run, organization=args.organization or None,
        root_directory=args.root_directory or None))


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    configure(args)
    program = os.path.abspath(args.program)
    sys.argv = [program, *args.args]
    if args.pwd:
        os.chdir(args.pwd)
    # the program's folder first, as `python PROGRAM` would have it
    sys.path.insert(0, program if os.path.isdir(program) else os.path.dirname(program))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(max_workers=max(args.parallel, 1) * 4)
    loop.set_default_executor(executor)
    # A failed resource leaves futures nobody awaits; asyncio would log each one as noise.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    def run() -> None:
        runpy.run_path(program, run_name="__main__")

    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run))
        return 0
    except pulumi.RunError as e:
        pulumi.log.error(str(e))
        return 1
    except KubeforgeError as e:
        # says what is wrong and how to fix it: a traceback would only hide that
        pulumi.log.error(str(e))
        return USER_ACTIONABLE_EXIT
    except Exception:
        pulumi.log.error(f"the program failed:\n{traceback.format_exc()}")
        return USER_ACTIONABLE_EXIT
    except KeyboardInterrupt:
        # the engine interrupts the program when a resource failed; it reports that error
        return 1
    finally:
        executor.shutdown(wait=True)
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
