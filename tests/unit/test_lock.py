"""One change to an environment at a time: the second run is refused and told who holds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeforge.errors import KubeforgeError
from kubeforge.lock import env_lock, lock_path


def test_second_run_is_refused_with_the_holder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    with env_lock("lab", "kubeforge deploy lab"):
        with pytest.raises(KubeforgeError) as exc, env_lock("lab", "kubeforge upgrade lab"):
            pass
        message = str(exc.value)
        assert "environment lab is busy: `kubeforge deploy lab`" in message
        assert f"pid {os.getpid()}" in message
        with env_lock("prod", "kubeforge deploy prod"):  # another environment is free
            pass
    with env_lock("lab", "kubeforge upgrade lab"):  # released with the block
        assert "upgrade" in lock_path("lab").read_text()


def test_a_dead_holder_leaves_nothing_to_clear(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFORGE_CACHE", str(tmp_path))
    pid = os.fork()
    if pid == 0:  # the child takes the lock and dies without letting go
        with env_lock("lab", "kubeforge deploy lab"):
            os._exit(0)
    os.waitpid(pid, 0)
    with env_lock("lab", "kubeforge deploy lab"):
        pass
