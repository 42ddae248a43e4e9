"""Lab operations that need no machine: the checks `kubeforge lab up` makes first."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.lab import ops


def test_lab_up_refuses_a_nearly_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubelets evict pods on a full disk: `lab up` says so first, with the figures."""
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage",
                        lambda p: usage(100 * 2**30, 98 * 2**30, 2 * 2**30))
    with pytest.raises(KubeforgeError, match=r"only 2\.0 GiB free .* \(98% used\)"):
        ops.check_free_space(tmp_path / "not" / "made" / "yet")
    monkeypatch.setattr("shutil.disk_usage",
                        lambda p: usage(100 * 2**30, 50 * 2**30, 50 * 2**30))
    ops.check_free_space(tmp_path)
