"""One conformance run: the suite ready in the mirror, ginkgo driving e2e.test from the control
host, progress as it goes, the report and log kept, the suite's namespaces gone afterwards."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeforge import paths, versions
from kubeforge.conformance import images, modes, results
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import components, e2eimages, serve
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.spec.models import ClusterSpec
from kubeforge.status import kubectl_argv

#: Seconds between two progress lines while specs run.
PROGRESS_EVERY = 30.0
#: How long ginkgo gets to run its cleanup after an interrupt.
INTERRUPT_GRACE = 300.0
#: The e2e framework labels every namespace it makes with this key.
E2E_NAMESPACE_LABEL = "e2e-framework"


@dataclass(frozen=True)
class Options:
    mode: str = "quick"
    focus: str | None = None
    skip: str | None = None
    parallel: int = 4
    timeout: str = "6h"
    registry: str | None = None  # where nodes pull the suite's images, when not the mirror


@dataclass(frozen=True)
class Suite:
    e2e_test: Path
    ginkgo: Path
    kubectl: Path


def _suite_env(repo_list: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if repo_list is not None:
        env["KUBE_TEST_REPO_LIST"] = str(repo_list)
    return env


def ensure_suite(layout: MirrorLayout, release: versions.Release,
                 repo_list: Path | None = None) -> Suite:
    """The release's suite and its images, built on first use and pushed to the running mirror."""
    build = layout.build_dir("conformance", release.kubernetes)
    if not build.is_dir():
        print(f"[conformance] the suite of {release.kubernetes} is not built yet: building "
              "e2e.test, ginkgo and the test images' programs (once per release; long)",
              flush=True)
    components.build_component(layout, "conformance", release)
    components.build_component(layout, "busybox_upstream", release)
    kubectl = layout.release_bin(release.kubernetes, "kubectl")
    if not kubectl.is_file():
        raise KubeforgeError(f"{kubectl} is missing: run `kubeforge mirror build --release "
                             f"{release.kubernetes}`")
    suite = Suite(build / "e2e.test", build / "ginkgo", kubectl)
    refs = images.suite_images(suite.e2e_test, _suite_env(None))
    built = e2eimages.build_e2e_images(layout, release, refs)
    if repo_list is None:
        addr = serve.listen_address(layout)
        if addr is None or not serve.is_running(layout):
            raise KubeforgeError("the mirror is not serving, so the nodes cannot pull the "
                                 "suite's images: start it (`kubeforge lab up` or `kubeforge "
                                 "mirror serve`)")
        serve.push_images(addr, layout, built)
    return suite


def ginkgo_argv(suite: Suite, spec: ClusterSpec, opts: Options, out: Path,
                kubeconfig: Path) -> list[str]:
    sel = modes.selection(opts.mode, opts.focus, opts.skip)
    return [
        str(suite.ginkgo), f"--procs={opts.parallel}", f"--timeout={opts.timeout}",
        "--no-color", f"--output-dir={out}", "--junit-report=junit.xml", *sel.ginkgo_args(),
        str(suite.e2e_test), "--",
        f"--kubeconfig={kubeconfig}", f"--kubectl-path={suite.kubectl}",
        "--provider=skeleton", f"--dns-domain={spec.network.dns_domain}",
    ]


def remove_namespaces(kubectl: list[str], wait: float = 300) -> list[str]:
    """Delete what the suite left (its namespaces hold everything else it made); return the
    namespaces still there after `wait` seconds. `kubectl`: status.kubectl_argv's command."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*kubectl, *args], capture_output=True, text=True, timeout=60,
                              check=False)

    run("delete", "namespace", "-l", E2E_NAMESPACE_LABEL, "--wait=false", "--ignore-not-found")
    deadline = time.monotonic() + wait
    while True:
        res = run("get", "namespace", "-l", E2E_NAMESPACE_LABEL, "-o", "name")
        left = res.stdout.split() if res.returncode == 0 else ["(the API did not answer)"]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(5)


def _stream(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Copy ginkgo's output to the log; print failures as they come and a progress line."""
    assert proc.stdout is not None
    progress = results.Progress()
    start = last = time.monotonic()
    fd = proc.stdout.fileno()
    with log.open("wb") as f:
        while True:
            ready, _, _ = select.select([fd], [], [], 5.0)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                f.write(chunk)
                f.flush()
                for name in progress.feed(chunk.decode("utf-8", "replace")):
                    print(f"[conformance] FAILED: {name}", flush=True)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                print(progress.line(now - start), flush=True)
                last = now
    print(progress.line(time.monotonic() - start), flush=True)


def _interrupt(proc: subprocess.Popen[bytes]) -> None:
    """One SIGINT: ginkgo runs the specs' cleanup and stops; a second Ctrl-C here kills it."""
    print(f"[conformance] interrupted: letting the suite clean up (up to "
          f"{int(INTERRUPT_GRACE)} s; Ctrl-C again to stop it at once)", flush=True)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=INTERRUPT_GRACE)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run(spec: ClusterSpec, opts: Options) -> int:
    layout = MirrorLayout.default()
    release = layout.release(spec.kubernetes.version)
    kubectl = kubectl_argv(spec)  # first: a missing kubeconfig stops here, with the fix
    kubeconfig = paths.admin_kubeconfig(spec.name)
    out = paths.ROOT / ".cache" / spec.name / "conformance" / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True)
    repo_list = None
    if opts.registry:
        repo_list = images.write_repo_list(images.repo_list(opts.registry), out / "repo-list.yml")
    suite = ensure_suite(layout, release, repo_list)
    argv = ginkgo_argv(suite, spec, opts, out, kubeconfig)
    print(f"[conformance] {opts.mode} on {spec.name} (Kubernetes {release.kubernetes}), "
          f"{opts.parallel} in parallel; log and report in {out}", flush=True)
    (out / "command").write_text(" ".join(argv) + "\n")
    interrupted = False
    # its own process group: a Ctrl-C reaches ginkgo once, from _interrupt, never twice
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=_suite_env(repo_list), start_new_session=True)
    try:
        _stream(proc, out / "e2e.log")
        proc.wait()
    except KeyboardInterrupt:
        interrupted = True
        _interrupt(proc)
    finally:
        left = remove_namespaces(kubectl)
        if left:
            print(f"[conformance] still there after cleanup: {' '.join(left)}", file=sys.stderr)
    return _report(out, proc.returncode, interrupted,
                   len(modes.QUICK_SPECS) if opts.mode == "quick" and not opts.focus else None)


def _report(out: Path, returncode: int | None, interrupted: bool,
            expected: int | None = None) -> int:
    junit = out / "junit.xml"
    if not junit.is_file():
        print(f"[conformance] no report was written (ginkgo exit {returncode}); see "
              f"{out / 'e2e.log'}", file=sys.stderr)
        return 130 if interrupted else 1
    summary = results.parse_junit(junit)
    (out / "summary.json").write_text(json.dumps(
        {**asdict(summary), "exit": returncode, "interrupted": interrupted}, indent=2) + "\n")
    print(f"[conformance] {summary.line()}", flush=True)
    for name in summary.failures:
        print(f"[conformance]   failed: {name}", flush=True)
    print(f"[conformance] report: {junit}; log: {out / 'e2e.log'}", flush=True)
    if interrupted:
        return 130
    if expected is not None and summary.ran != expected:
        # a renamed spec would silently shrink the smoke test: say so and fail
        print(f"[conformance] quick mode selects {expected} specs but {summary.ran} ran: a spec "
              "was renamed in this release; update QUICK_SPECS in kubeforge/conformance/modes.py",
              file=sys.stderr)
        return 1
    return 0 if summary.failed == 0 and summary.ran > 0 and returncode == 0 else 1


def list_images(spec: ClusterSpec) -> int:
    """`--list-images`: what the suite needs, what the mirror holds and what each is made of."""
    layout = MirrorLayout.default()
    release = layout.release(spec.kubernetes.version)
    build = layout.build_dir("conformance", release.kubernetes)
    e2e_test = build / "e2e.test"
    if not e2e_test.is_file():
        raise KubeforgeError(f"the suite of {release.kubernetes} is not built: run `kubeforge "
                             f"mirror build --release {release.kubernetes} --only conformance`")
    table = images.rows(images.suite_images(e2e_test, _suite_env(None)), layout.images, release)
    for row in table:
        print(row.line())
    have = sum(r.in_mirror for r in table)
    print(f"{have} of {len(table)} images in the mirror; "
          f"{sum(r.source is not None for r in table)} have a recipe")
    return 0

