"""kubeforge.cluster.template: the builtin template lookup's rendering, without its deep copy."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleError  # type: ignore[import-untyped]
from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]
from ansible.plugins.loader import init_plugin_loader, lookup_loader  # type: ignore[import-untyped]
from ansible.template import Templar  # type: ignore[import-untyped]
from conftest import load_path

from kubeforge import paths


def _plugin() -> Any:
    if str(paths.ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(paths.ROOT / "collections"))
    return load_path("template_lookup", paths.ROOT / "collections/ansible_collections/kubeforge"
                     / "cluster/plugins/lookup/template.py")


def _render(cls: Any, template: Path, variables: dict[str, Any], **kwargs: Any) -> str:
    loader = DataLoader()
    templar = Templar(loader=loader)
    # the builtin one reads its options' definitions through the plugin loader
    if cls is None:
        init_plugin_loader()
    lookup = (lookup_loader.get("ansible.builtin.template", loader=loader, templar=templar)
              if cls is None else cls(loader=loader, templar=templar))
    out: list[str] = lookup.run([str(template)], variables, **kwargs)
    return out[0]


def test_renders_as_the_builtin_lookup(tmp_path: Path) -> None:
    template = tmp_path / "t.j2"
    template.write_text("{{ name }} {{ nodes | join(',') }} {{ _key | default('-') }}\n"
                        "{{ template_path | basename }}\n")
    variables = {"name": "cp1", "nodes": ["a", "b"], "ansible_search_path": [str(tmp_path)]}
    ours = _plugin().LookupModule
    assert _render(ours, template, variables) == _render(None, template, variables)
    assert _render(ours, template, variables, template_vars={"_key": "k"}) \
        == _render(None, template, variables, template_vars={"_key": "k"})
    assert "templates" not in variables and variables["nodes"] == ["a", "b"]


def test_the_copy_is_shallow_and_other_options_are_refused(tmp_path: Path) -> None:
    plugin = _plugin()
    nested = {"big": [1, 2, 3]}
    copied = copy.deepcopy(plugin._Shallow(nested))
    assert type(copied) is dict and copied["big"] is nested["big"]
    with pytest.raises(AnsibleError, match="takes only template_vars"):
        _render(plugin.LookupModule, tmp_path / "t.j2", {}, trim_blocks=False)
