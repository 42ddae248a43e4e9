"""`pulumi up -s lab` for real: from no machines to a verified cluster with add-ons, then a
preview with no changes, a Traefik version bump that previews as exactly one update (the ingress
release, nothing of the bootstrap), and a destroy that leaves nothing of the lab behind.

It owns the main lab (`lab`): run it when that lab is down (`make stack-e2e`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubeforge import paths, versions
from kubeforge.lab import ops
from kubeforge.lab.model import load_plan
from kubeforge.spec import load_spec, spec_path

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
]

ENV = "lab"
KUBEFORGE = str(Path(sys.executable).parent / "kubeforge")


def kubeforge(*args: str, timeout: float, env: dict[str, str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    proc = subprocess.run([KUBEFORGE, *args], cwd=paths.ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})
    print(f"[stack-e2e] kubeforge {' '.join(args)}: rc {proc.returncode} in "
          f"{time.monotonic() - started:.1f}s", flush=True)
    return proc


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


def changes(preview_json: str) -> dict[str, str]:
    """{urn: op} of every step of `pulumi preview --json` that is not 'same'."""
    steps = json.loads(preview_json).get("steps", [])
    return {s["urn"]: s["op"] for s in steps if s["op"] not in ("same", "read")}


def _bump(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


@pytest.fixture(scope="module")
def specs() -> Iterator[tuple[Path, Path]]:
    """(the lab spec, the same with Traefik one patch version up), side by side so that
    relative paths (local charts) resolve to the same files."""
    original = spec_path(ENV)
    data = yaml.safe_load(original.read_text())
    data.setdefault("ingress", {})["version"] = _bump(versions.TRAEFIK)
    bumped = original.with_name("cluster.stack-e2e-bump.yml")
    bumped.write_text(yaml.safe_dump(data, sort_keys=False))
    yield original, bumped
    bumped.unlink(missing_ok=True)


def test_stack_lifecycle(specs: tuple[Path, Path]) -> None:
    stack, bumped = specs

    def pulumi(*args: str, spec: Path = stack, timeout: float = 1800,
               ) -> subprocess.CompletedProcess[str]:
        return kubeforge("pulumi", ENV, "--", *args, timeout=timeout,
                         env={"KUBEFORGE_STACK_SPEC": str(spec)})

    assert not any(r.running for r in ops.status(load_plan(ENV))), \
        "lab machines are running: `kubeforge lab down lab` first (this test creates them)"
    cleared = pulumi("destroy", "--yes", "--skip-preview")  # state left by an earlier run
    assert cleared.returncode == 0, shown(cleared)

    up = pulumi("up", "--yes", "--skip-preview", timeout=3600)
    assert up.returncode == 0, shown(up)
    print(up.stdout[-2500:])

    verify = kubeforge("verify", str(stack), timeout=1800)
    assert verify.returncode == 0, shown(verify)

    again = pulumi("preview", "--expect-no-changes", "--diff")
    assert again.returncode == 0, f"a second preview wants changes:\n{shown(again)}"

    bump = pulumi("preview", "--json", spec=bumped)
    assert bump.returncode == 0, shown(bump)
    diff = changes(bump.stdout)
    assert list(diff.values()) == ["update"], f"expected one update, got {diff}"
    assert next(iter(diff)).endswith("Release::lab-traefik-traefik"), diff

    outputs = pulumi("stack", "output", "--json")
    assert outputs.returncode == 0, shown(outputs)
    data = json.loads(outputs.stdout)
    assert data["kubeconfig"] == "[secret]", "the kubeconfig must stay a secret"
    assert [n["name"] for n in data["nodes"]] == [h.name for h in load_spec(ENV).hosts]

    down = pulumi("destroy", "--yes", "--skip-preview")
    assert down.returncode == 0, shown(down)
    assert ops.leftovers(load_plan(ENV)) == []
