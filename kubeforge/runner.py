"""Run the project's playbooks and the verify suite against an environment's inventory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kubeforge import paths
from kubeforge.errors import KubeforgeError
from kubeforge.render import render
from kubeforge.spec import load_spec, spec_path


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


def prepare(env_name: str) -> Path:
    """Validate the spec and render its inventory; returns the inventory folder."""
    inventory = spec_path(env_name).parent
    for item in render(load_spec(env_name), inventory):
        if item.changed:
            print(f"[kubeforge] rendered {item.path.relative_to(paths.ROOT)}")
    return inventory


def run(cmd: Sequence[str], what: str) -> int:
    started = time.monotonic()
    print(f"[kubeforge] {what}: {' '.join(cmd)}", flush=True)
    rc = subprocess.call(list(cmd), cwd=paths.ROOT, env=_env())
    print(f"[kubeforge] {what} {'done' if rc == 0 else f'FAILED (rc {rc})'} in "
          f"{time.monotonic() - started:.0f}s", flush=True)
    return rc


def playbook(env_name: str, name: str, extra: Sequence[str] = ()) -> int:
    book = paths.ROOT / "playbooks" / f"{name}.yml"
    if not book.is_file():
        raise KubeforgeError(f"no playbook {book}")
    inventory = prepare(env_name)
    return run([_tool("ansible-playbook"), "-i", str(inventory), str(book), *extra],
               f"playbook {name} on {env_name}")


def verify(env_name: str, extra: Sequence[str] = ()) -> int:
    inventory = prepare(env_name)
    return run([_tool("pytest"), "-p", "no:cacheprovider", str(paths.ROOT / "tests" / "verify"),
                "--ansible-inventory", str(inventory), *extra], f"verify {env_name}")
