"""The filters roles compare the probe's findings with (plugins/filter/probe_compare.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def test_filters(filter_plugin: Callable[[str], ModuleType]) -> None:
    assert set(filter_plugin("probe_compare").FilterModule().filters()) == {"probe_differs",
                                                                    "probe_with_block"}


def test_probe_differs_lists_missing_and_other_values_in_order(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    differs = filter_plugin("probe_compare").probe_differs
    found = {"/a": "1", "/b": "2"}
    assert differs({"/a": "1", "/b": "3", "/c": "1"}, found) == ["/b", "/c"]
    assert differs({"/a": "1"}, found) == []


def test_probe_with_block_replaces_or_appends_the_marked_block(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    put = filter_plugin("probe_compare").probe_with_block
    block = ["# BEGIN nodes", "10.0.0.1 cp1", "# END nodes"]
    assert put(["127.0.0.1 localhost"], block) == (
        "127.0.0.1 localhost\n# BEGIN nodes\n10.0.0.1 cp1\n# END nodes\n")
    old = ["127.0.0.1 localhost", "# BEGIN nodes", "10.0.0.9 old", "# END nodes", "::1 localhost"]
    assert put(old, block).splitlines() == ["127.0.0.1 localhost", *block, "::1 localhost"]
    # an END marker before any BEGIN is not a block
    assert put(["# END nodes", "x"], block).splitlines() == ["# END nodes", "x", *block]
