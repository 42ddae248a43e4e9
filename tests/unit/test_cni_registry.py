"""Each pod network is one folder of kubeforge/cni plus its registry line: what the folder declares
reaches the spec, the version table, render and the mirror, and is consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeforge import versions
from kubeforge.cni import PLUGINS
from kubeforge.cni.base import CniPlugin
from kubeforge.mirror import components, files, images
from kubeforge.render import group_vars
from kubeforge.spec import load_spec

INSTALLABLE = [p for p in PLUGINS.values() if not p.refused]


@pytest.mark.parametrize("plugin", INSTALLABLE, ids=lambda p: p.name)
def test_an_installable_folder_has_its_manifest_and_node_tasks(plugin: type[CniPlugin]) -> None:
    assert (plugin.folder() / "manifest.yaml.j2").is_file()
    assert (plugin.folder() / "node.yml").is_file()
    namespace, name = plugin.agent.split("/")
    assert namespace and name


@pytest.mark.parametrize("plugin", INSTALLABLE, ids=lambda p: p.name)
def test_what_the_folder_ships_the_mirror_builds(plugin: type[CniPlugin]) -> None:
    bundle = plugin.mirror()
    assert set(bundle.go) == set(plugin.components)
    assert set(bundle.binaries) == set(plugin.components)
    for name in plugin.components:
        assert name in components.COMPONENTS and name in components.GO_RECIPES
        assert versions.component_version(versions.RELEASES[versions.DEFAULT_KUBERNETES],
                                          name) == plugin.components[name]
    for name in plugin.artifacts:
        assert name in plugin.components  # an artifact is named by the component it packs
        assert versions.ARTIFACT_PATHS[name] == plugin.artifacts[name]
        assert name in files.TARBALLS
    for name in plugin.images:
        assert name in images.RECIPES and images.RECIPES[name].component in plugin.components


@pytest.mark.parametrize("plugin", INSTALLABLE, ids=lambda p: p.name)
def test_image_references_carry_the_folders_versions(plugin: type[CniPlugin]) -> None:
    release = versions.RELEASES[versions.DEFAULT_KUBERNETES]
    refs = images.image_refs(release)
    for name, template in plugin.images.items():
        assert refs[name] == template.format(**plugin.components)
        assert "{" not in refs[name]


def test_a_refused_plugin_ships_nothing() -> None:
    for plugin in PLUGINS.values():
        if plugin.refused:
            assert not plugin.components and not plugin.mirror().go


def test_render_hands_the_role_the_chosen_folder(lab_files: Path) -> None:
    spec = load_spec("lab")
    gv = group_vars(spec)
    cni = gv["kubeforge_cni_plugin"]
    plugin = PLUGINS[spec.cni.plugin]
    assert cni["dir"] == str(plugin.folder()) and cni["agent"] == plugin.agent
    assert set(cni["images"]) == set(plugin.images)
    assert set(cni["artifacts"]) == set(plugin.artifacts)
    for art in cni["artifacts"].values():
        assert len(art["sha256"]) == 64 and art["url"].startswith("http")
    reset = gv["kubeforge_cni_reset"]
    for p in PLUGINS.values():
        assert set(p.reset_interfaces) <= set(reset["interfaces"])
        assert set(p.reset_chains) <= set(reset["chains"])
