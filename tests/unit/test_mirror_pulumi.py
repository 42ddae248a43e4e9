"""The mirror's pulumi CLI and Kubernetes provider: their go commands, sources and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import checksums, components, files, gotool, recipes
from kubeforge.mirror.layout import MirrorLayout

RELEASE = versions.RELEASES[versions.DEFAULT_KUBERNETES]
PK = "github.com/pulumi/pulumi-kubernetes"

CLIPBOARD = "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
# The directives of github.com/pulumi/pulumi/pkg/v3@v3.274.1's go.mod that matter here.
PKG_GOMOD = f"""module github.com/pulumi/pulumi/pkg/v3

go 1.26.6

replace github.com/pulumi/pulumi/sdk/v3 => ../sdk

replace github.com/atotto/clipboard => {CLIPBOARD}

require (
	github.com/pulumi/pulumi/sdk/v3 v3.274.1
)
"""


def _spec(component: str) -> gotool.GoBuild:
    ctx = recipes.Context(MirrorLayout(Path("/nonexistent")), RELEASE,
                             components.version_of(component, RELEASE), Path("/nonexistent"))
    return components.GO_RECIPES[component](ctx)


def test_pulumi_wrapper_requires_sdk_and_copies_only_the_published_replace() -> None:
    spec = _spec("pulumi")
    assert not spec.patches_primary
    assert gotool.wrapper_edits(spec, gotool.parse_gomod(PKG_GOMOD)) == [
        "-require=github.com/pulumi/pulumi/pkg/v3@v3.274.1",
        "-require=github.com/pulumi/pulumi/sdk/v3@v3.274.1",
        "-replace=github.com/atotto/clipboard="
        "github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e",
    ]
    assert spec.ldflags == (
        "-s", "-w", "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v3.274.1")
    assert [(b.package, b.name) for b in spec.binaries] == [
        ("github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", "pulumi")]


def test_pulumi_kubernetes_builds_a_generated_copy_of_the_provider_module() -> None:
    spec = _spec("pulumi_kubernetes")
    assert spec.requires == ((f"{PK}/provider/v4", "v4.0.0-20260115033456-f47bc2d6f199"),)
    assert spec.patches_primary
    assert gotool.copy_commands(spec) == [
        ["mod", "edit", f"-dropreplace={PK}/sdk/v4"],
        ["generate", "./cmd/pulumi-resource-kubernetes"],
    ]
    assert spec.env == {"VERSION": "4.25.0"}  # generate.go stamps the embedded schema with it
    assert spec.ldflags == ("-s", "-w", f"-X {PK}/provider/v4/pkg/version.Version=4.25.0")
    assert [(b.package, b.name) for b in spec.binaries] == [
        (f"{PK}/provider/v4/cmd/pulumi-resource-kubernetes", "pulumi-resource-kubernetes")]


def test_copy_commands_keep_the_older_recipes_as_they_were() -> None:
    assert _spec("flannel").patches_primary  # drop_imports alone still means a patched copy
    assert gotool.copy_commands(_spec("flannel")) == []
    spec = gotool.GoBuild(requires=(("m", "v1.0.0"),), binaries=(), primary="m",
                          replaces=(("a", "b@v1.0.0"),))
    assert not spec.patches_primary
    assert gotool.copy_commands(spec) == [["mod", "edit", "-replace=a=b@v1.0.0"]]
    # (kubernetes's recipe, and conformance's built on it, ask the proxy for the release time)
    patched = [c for c in components.GO_RECIPES
               if c not in ("kubernetes", "conformance") and _spec(c).patches_primary]
    assert patched == ["flannel", "pulumi_kubernetes"]


def test_sources_say_what_was_built() -> None:
    assert components.source_of("pulumi", "3.274.1") == (
        "github.com/pulumi/pulumi/pkg/v3@v3.274.1, github.com/pulumi/pulumi/sdk/v3@v3.274.1")
    source = components.source_of("pulumi_kubernetes", "4.25.0")
    assert source.startswith(f"{PK}/provider/v4@v4.0.0-20260115033456-f47bc2d6f199 ")
    assert "untagged commit f47bc2d6f199 of 2026-01-15" in source
    assert "stamped 4.25.0" in source


def test_pulumi_toolchain(tmp_path: Path) -> None:
    layout = MirrorLayout(tmp_path)
    with pytest.raises(KubeforgeError, match=r"run `kubeforge mirror build --only pulumi"):
        components.pulumi_toolchain(layout)
    cli = layout.build_dir("pulumi", "3.274.1") / "pulumi"
    plugin = layout.build_dir("pulumi_kubernetes", "4.25.0") / "pulumi-resource-kubernetes"
    for path in (cli, plugin):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    assert components.pulumi_toolchain(layout) == {
        "pulumi": cli, "pulumi-resource-kubernetes": plugin}


def test_nodes_never_get_the_pulumi_binaries(tmp_path: Path) -> None:
    layout = MirrorLayout(tmp_path)
    for comp in ("pulumi", "pulumi_kubernetes"):
        d = layout.build_dir(comp, components.version_of(comp, RELEASE))
        d.mkdir(parents=True)
        for b in components.BINARIES[comp]:
            (d / b).write_bytes(b"x")
    assert files.pack_release(layout, RELEASE) == []
    assert checksums.write_table(layout) == {}


def test_pulumi_toolchain_is_built_on_first_use(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    layout = MirrorLayout(tmp_path)
    built: list[str] = []

    def fake_build(lay: MirrorLayout, component: str, release: object) -> Path:
        out = lay.build_dir(component, components.ADDON_VERSIONS[component])
        out.mkdir(parents=True)
        for b in components.BINARIES[component]:
            (out / b).write_bytes(b"")
        built.append(component)
        return out

    monkeypatch.setattr(components, "build_component", fake_build)
    tools = components.ensure_pulumi_toolchain(layout)
    assert built == ["pulumi", "pulumi_kubernetes"]
    assert set(tools) == {"pulumi", "pulumi-resource-kubernetes"}
    components.ensure_pulumi_toolchain(layout)
    assert built == ["pulumi", "pulumi_kubernetes"]  # built once
