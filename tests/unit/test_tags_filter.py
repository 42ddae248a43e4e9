"""The tag selection rule the roles use to merge steps (plugins/filter/tags.py)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def test_a_step_runs_when_selected_and_not_skipped(
        filter_plugin: Callable[[str], ModuleType]) -> None:
    selected = filter_plugin("tags").tags_selected
    step = ("containerd", "containerd_configure")
    # the default run, --tags tagged, the role's tag, the step's own tag
    for run in (["all"], ["tagged"], ["containerd"], ["containerd_configure", "x"]):
        assert selected(run, [], *step), run
    # another step's tag only, or the role or the step skipped
    assert not selected(["containerd_install"], [], *step)
    assert not selected(["all"], ["containerd"], *step)
    assert not selected(["containerd"], ["containerd_configure"], *step)
    assert selected(["all"], ["containerd_install"], *step)
    assert set(filter_plugin("tags").FilterModule().filters()) == {"tags_selected"}
