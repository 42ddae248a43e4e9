"""Lab operations that need no machine: the checks `kubeforge lab up` makes first."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.lab import ops
from kubeforge.lab.system import Progress


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


def test_lab_up_fails_when_the_mirror_does_not_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's machines take everything from the mirror: without it a deploy would fail much
    later on an image "not found", so `lab up` stops and says why."""
    class Down:
        @staticmethod
        def is_running() -> bool:
            return False

        @staticmethod
        def start(listen: str) -> None:
            raise KubeforgeError("the mirror's registry server did not come up within 60 s")

    monkeypatch.setattr(ops, "_mirror_module", lambda: Down)
    plan = SimpleNamespace(name="lab", gateway="10.240.0.1")
    lines: list[str] = []
    with pytest.raises(KubeforgeError, match=r"(?s)lab lab: the machines are up but the mirror is "
                       r"not serving them: .*registry server did not come up.*lab up` again"):
        ops._start_mirror(plan, Progress(lines.append))  # type: ignore[arg-type]

    def unspawnable(listen: str) -> None:
        raise PermissionError(13, "Permission denied", "registry")

    monkeypatch.setattr(Down, "start", unspawnable)
    with pytest.raises(KubeforgeError, match=r"mirror is not serving them: .*Permission denied"):
        ops._start_mirror(plan, Progress(lines.append))  # type: ignore[arg-type]
