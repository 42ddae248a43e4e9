"""`pulumi up -s lab` for real: from no machines to a verified cluster with add-ons, then a
preview with no changes, a chart bump that previews as exactly one update, and a destroy that
leaves nothing of the lab behind.

The stack runs a copy of the lab spec whose chart repository is this test's own (the mirror's
charts plus the ingress chart repackaged one patch version up), so the bump has a real chart
version to find. It owns the main lab (`lab`): run it when that lab is down (`make stack-e2e`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeforge import addons, paths
from kubeforge.lab import ops
from kubeforge.lab.model import load_plan
from kubeforge.mirror.layout import MirrorLayout
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


def _traefik() -> addons.PlannedRelease:
    return next(r for r in addons.expand(load_spec(ENV, check_files=False))
                if (r.namespace, r.name) == addons.TRAEFIK)


def _bump(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def chart_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chart repository on 127.0.0.1 (the provider runs on this host): the mirror's charts
    and the ingress chart again at the next patch version."""
    spec = load_spec(ENV, check_files=False)
    repo = tmp_path_factory.mktemp("charts")
    for chart in (MirrorLayout.default().files / "charts").glob("*.tgz"):
        shutil.copy(chart, repo)
    helm = MirrorLayout.default().build_dir("helm", spec.kubernetes.release.helm) / "helm"
    traefik = _traefik()
    work = tmp_path_factory.mktemp("traefik")
    with tarfile.open(repo / f"traefik-{traefik.version}.tgz") as tar:
        tar.extractall(work, filter="data")
    for cmd in ([str(helm), "package", str(work / "traefik"), "--version",
                 _bump(str(traefik.version)), "-d", str(repo)],
                [str(helm), "repo", "index", str(repo)]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(repo)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def specs(chart_repo: str) -> Iterator[tuple[Path, Path]]:
    """(the stack's spec, the same with the ingress chart bumped), next to the lab spec so that
    relative paths (local charts) resolve to the same files."""
    original = spec_path(ENV)
    data = yaml.safe_load(original.read_text())
    data["mirrors"]["charts"] = chart_repo
    stack = original.with_name("cluster.stack-e2e.yml")
    stack.write_text(yaml.safe_dump(data, sort_keys=False))
    data.setdefault("ingress", {})["version"] = _bump(str(_traefik().version))
    bumped = original.with_name("cluster.stack-e2e-bump.yml")
    bumped.write_text(yaml.safe_dump(data, sort_keys=False))
    yield stack, bumped
    stack.unlink(missing_ok=True)
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
