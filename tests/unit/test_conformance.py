"""`kubeforge conformance`: spec selection, the report and live output read back, the suite's
registries remapped, the ginkgo command. The runs themselves are `make conformance` and CI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeforge import versions
from kubeforge.conformance import images, modes, results, run
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import e2eimages
from kubeforge.spec import load_spec

TEST_SPEC = Path(__file__).resolve().parents[1] / "lab" / "cluster.yml"
RELEASE = versions.RELEASES[versions.DEFAULT_KUBERNETES]


@pytest.mark.parametrize("spec_text", [
    # as e2e.test 1.37 names them (`e2e.test --list-tests`)
    "[sig-node] Pods should be submitted and removed [Conformance] [NodeConformance]",
    "[sig-network] DNS should provide DNS for the cluster [Conformance]",
    "[sig-storage] ConfigMap should be consumable from pods in volume [Conformance] "
    "[NodeConformance]",
])
def test_quick_mode_focus_matches_its_specs(spec_text: str) -> None:
    sel = modes.selection("quick")
    assert sel.labels == "Conformance"
    assert re.search(sel.focus, spec_text)
    assert not re.search(sel.focus, "[sig-network] DNS should provide DNS for services")
    assert not re.search(sel.focus, "[sig-storage] ConfigMap should be consumable from pods in "
                                    "volume as non-root [Conformance] [NodeConformance]")


def test_modes_are_label_filters() -> None:
    assert modes.selection("certified").ginkgo_args() == ["--label-filter=Conformance"]
    nd = modes.selection("non-disruptive", skip="sig-storage")
    assert nd.ginkgo_args() == ["--label-filter=Conformance && !Serial && !Disruptive",
                                "--skip=sig-storage"]
    # --focus replaces quick's own list; the label filter keeps it to conformance specs
    assert modes.selection("quick", focus="sig-apps").ginkgo_args() == [
        "--label-filter=Conformance", "--focus=sig-apps"]


@pytest.mark.parametrize(("mode", "focus", "message"), [
    ("quick", "([unclosed", "is not a regular expression"),
    ("nope", None, "unknown mode"),
])
def test_bad_selection_is_a_clear_error(mode: str, focus: str | None, message: str) -> None:
    with pytest.raises(KubeforgeError, match=message):
        modes.selection(mode, focus)


JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="0" errors="0" failures="1" time="95.5">
  <testsuite name="Kubernetes e2e suite" tests="4" skipped="1" failures="1" errors="0"
             time="95.5">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite"
              status="passed" time="2.0"></testcase>
    <testcase name="[It] [sig-node] Pods should be submitted and removed [Conformance]"
              classname="Kubernetes e2e suite" status="passed" time="10.5"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Conformance]"
              classname="Kubernetes e2e suite" status="failed" time="60.0">
      <failure message="timed out" type="failed">dig returned nothing</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]"
              classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped - the cluster has fewer than 2 nodes"></skipped>
    </testcase>
    <testcase name="[It] [sig-storage] CSI mock volume [Slow]" classname="Kubernetes e2e suite"
              status="skipped" time="0"><skipped message="skipped"></skipped></testcase>
  </testsuite>
</testsuites>
"""


def test_junit_summary(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    s = results.parse_junit(report)
    assert (s.passed, s.failed, s.skipped) == (1, 1, 1)
    assert s.seconds == 95.5  # the suite's wall clock, not the sum of parallel specs
    assert s.failures == ["[It] [sig-network] DNS should provide DNS for the cluster "
                          "[Conformance]"]
    assert s.line() == "1 passed, 1 failed, 1 skipped in 1m36s"


def test_a_failed_suite_setup_counts_as_a_failure(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text('<testsuites><testsuite time="3"><testcase name="[SynchronizedBeforeSuite]"'
                      ' time="3"><failure message="nodes not ready"/></testcase></testsuite>'
                      '</testsuites>')
    s = results.parse_junit(report)
    assert (s.passed, s.failed) == (0, 1)


def test_unreadable_report_is_a_clear_error(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text("<testsuites>")
    with pytest.raises(KubeforgeError, match="cannot read the JUnit report"):
        results.parse_junit(report)


def test_progress_from_live_output() -> None:
    p = results.Progress()
    assert p.feed("Will run 412 of 7312 specs\n\x1b[38;5;10m•\x1b[0m•") == []
    assert p.total == 412
    # a line split across two reads, then a failure with its spec's text and location
    assert p.feed("•\n------------------------------\n• [FAIL") == []
    failures = p.feed("ED] [60.001 seconds]\n[sig-network] DNS [It] should provide DNS for the "
                      "cluster [Conformance]\n/go/test/e2e/network/dns.go:50\n")
    assert failures == ["[sig-network] DNS [It] should provide DNS for the cluster [Conformance]"]
    assert (p.done, p.failed) == (4, 1)
    # marks on a line that has not ended yet count at once (a parallel run's one long line)
    p.feed("SSS••S")
    assert p.done == 6
    assert p.line(75) == "[conformance] 6/412 specs done, 1 failed, 1m15s elapsed"


def test_repo_list_keeps_paths_below_the_host() -> None:
    mapping = images.repo_list("harbor.example.com:5000/k8s/")
    assert mapping["promoterE2eRegistry"] == "harbor.example.com:5000/k8s/e2e-test-images"
    assert mapping["gcRegistry"] == "harbor.example.com:5000/k8s"
    assert mapping["dockerLibraryRegistry"] == "harbor.example.com:5000/k8s/library"
    # one must stay unreachable for its spec, the other brings its own credentials
    assert mapping["invalidRegistry"] == images.REGISTRIES["invalidRegistry"]
    assert mapping["privateRegistry"] == images.REGISTRIES["privateRegistry"]
    assert set(mapping) == set(images.REGISTRIES)


@pytest.mark.parametrize("target", ["", "https://harbor.example.com", "a b"])
def test_repo_list_rejects_a_url(target: str) -> None:
    with pytest.raises(KubeforgeError, match="HOST"):
        images.repo_list(target)


def test_write_repo_list(tmp_path: Path) -> None:
    path = images.write_repo_list({"gcRegistry": "r.example/k8s"}, tmp_path / "x" / "list.yml")
    assert path.read_text() == "gcRegistry: r.example/k8s\n"


def test_every_conformance_image_has_a_recipe() -> None:
    for ref in ("registry.k8s.io/e2e-test-images/agnhost:2.66.1",
                "registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
                "registry.k8s.io/e2e-test-images/nginx:1.27.0-2",
                "registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
                "registry.k8s.io/etcd:3.7.0-0", "registry.k8s.io/pause:3.10.2"):
        assert e2eimages.source_of(ref, RELEASE), ref
    assert e2eimages.source_of("registry.k8s.io/sig-storage/csi-attacher:v4.8.0", RELEASE) \
        is None
    # the private registry's agnhost is not the suite's public one: never built
    assert e2eimages.source_of("gcr.io/k8s-authenticated-test/agnhost:2.6", RELEASE) is None
    row = images.ImageRow("registry.k8s.io/sig-storage/csi-attacher:v4.8.0", False, None)
    assert "no recipe" in row.line() and row.line().startswith("missing")


def test_ginkgo_command(tmp_path: Path) -> None:
    spec = load_spec(TEST_SPEC, check_files=False)
    suite = run.Suite(tmp_path / "e2e.test", tmp_path / "ginkgo", tmp_path / "kubectl")
    argv = run.ginkgo_argv(suite, spec, run.Options(mode="non-disruptive", parallel=3),
                           tmp_path / "out", tmp_path / "admin.conf")
    assert argv[0] == str(tmp_path / "ginkgo")
    sep = argv.index("--")
    ginkgo, e2e = argv[1:sep], argv[sep + 1:]
    assert "--procs=3" in ginkgo and "--junit-report=junit.xml" in ginkgo
    assert "--label-filter=Conformance && !Serial && !Disruptive" in ginkgo
    assert ginkgo[-1] == str(tmp_path / "e2e.test")  # the precompiled suite, then its flags
    assert f"--kubeconfig={tmp_path / 'admin.conf'}" in e2e
    assert f"--kubectl-path={tmp_path / 'kubectl'}" in e2e
    assert f"--dns-domain={spec.network.dns_domain}" in e2e


def test_busybox_and_setuid_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The busybox-based test images: one link per applet, nnp setuid, the source labelled."""
    import tarfile

    from kubeforge.mirror import gotool, oci
    from kubeforge.mirror.layout import MirrorLayout

    layout = MirrorLayout(tmp_path / "mirror")
    busybox = layout.build_dir("busybox_upstream", "x")
    busybox.mkdir(parents=True)
    (busybox / "busybox").write_text("#!/bin/sh\nprintf 'bin/busybox\\nbin/sh\\nusr/bin/wget\\n'\n")
    (busybox / "busybox").chmod(0o755)
    suite = layout.build_dir("conformance", RELEASE.kubernetes)
    suite.mkdir(parents=True)
    (suite / "nnp").write_bytes(b"\x7fELF")
    monkeypatch.setattr(e2eimages, "version_of", lambda c, r: "x")
    monkeypatch.setattr(gotool, "module_info", lambda *a: {"Dir": str(tmp_path / "k8s")})
    monkeypatch.setattr(gotool, "go_env", lambda *a: {})
    refs = ["registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
            "registry.k8s.io/e2e-test-images/nonewprivs:1.4",
            "registry.k8s.io/sig-storage/csi-attacher:v4.8.0"]
    built = e2eimages.build_e2e_images(layout, RELEASE, refs)
    assert set(built) == set(refs[:2])  # no recipe: left out for the caller to report
    images = oci.ImageLayout(layout.images)
    manifest = images.read_json(images.index()[refs[1]].digest)
    config = images.read_json(manifest["config"]["digest"])
    assert config["config"]["Labels"][e2eimages.SOURCE_LABEL] == built[refs[1]]
    # one recipe, two tags: two image IDs (the runtime reports a pod's image by its ID)
    # an image of an older recipe is made again; the mirror's own (no recipe label) are kept
    stale = images.index()[refs[0]].digest
    monkeypatch.setattr(e2eimages, "RECIPE_VERSION", "next")
    e2eimages.build_e2e_images(layout, RELEASE, [refs[0]])
    assert images.index()[refs[0]].digest != stale
    own = "registry.k8s.io/pause:3.10.2"
    images.put_image(own, [], oci.ImageConfig(entrypoint=("/pause",)))
    kept = images.index()[own].digest
    (layout.build_dir("pause", "x")).mkdir(parents=True)
    e2eimages.build_e2e_images(layout, RELEASE, [own])
    assert images.index()[own].digest == kept
    older = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
    e2eimages.build_e2e_images(layout, RELEASE, [older])
    assert images.index()[older].digest != images.index()[refs[0]].digest
    members: dict[str, tarfile.TarInfo] = {}
    for layer in manifest["layers"]:
        with tarfile.open(images.blob_path(layer["digest"]), mode="r:gz") as tar:
            members.update({m.name: m for m in tar.getmembers()})
    # every applet in /bin, whatever directory busybox lists it in
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["bin/wget"].issym() and "usr/bin/wget" not in members
    assert members["usr/local/bin/nnp"].mode == 0o4755
    assert members["tmp"].mode == 0o1777
    assert config["config"]["Cmd"] == ["nnp"]


def test_busybox_config_switches(tmp_path: Path) -> None:
    """defconfig's lines flipped the way the suite's busybox needs, the rest untouched."""
    from kubeforge.mirror import components

    config = tmp_path / ".config"
    config.write_text("# CONFIG_STATIC is not set\nCONFIG_TC=y\nCONFIG_ASH=y\n# Comment\n")
    components._set_config(config, {"CONFIG_STATIC": "y", "CONFIG_TC": None})
    assert config.read_text() == ("CONFIG_STATIC=y\n# CONFIG_TC is not set\nCONFIG_ASH=y\n"
                                  "# Comment\n")
