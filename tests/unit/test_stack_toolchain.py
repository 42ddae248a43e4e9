"""The offline Pulumi environment: nothing may be downloaded, secrets need a passphrase."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubeforge import versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror import components
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.stack import toolchain


def test_environment_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    env = toolchain.environment()
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PATH"].split(":")[0] == str(toolchain.bin_dir())
    assert env["PULUMI_BACKEND_URL"].startswith("file://")
    assert "PULUMI_CONFIG_PASSPHRASE" not in env
    assert toolchain.environment("lab-pass")["PULUMI_CONFIG_PASSPHRASE"] == "lab-pass"


def test_users_passphrase_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "mine")
    assert toolchain.environment("lab-pass")["PULUMI_CONFIG_PASSPHRASE"] == "mine"


def test_missing_toolchain_is_built_on_first_use(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MirrorLayout, "default", staticmethod(lambda: MirrorLayout(tmp_path)))
    asked: list[str] = []

    def refuse(layout: MirrorLayout, component: str, release: object) -> None:
        asked.append(component)
        raise KubeforgeError(f"building {component} failed")

    monkeypatch.setattr(components, "build_component", refuse)
    with pytest.raises(KubeforgeError, match="building pulumi failed"):
        toolchain.ensure_bin()
    assert asked == ["pulumi"]


def test_bin_scripts_run_this_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = MirrorLayout(tmp_path / "mirror")
    for component, name, version in (("pulumi", "pulumi", versions.PULUMI),
                                     ("pulumi_kubernetes", "pulumi-resource-kubernetes",
                                      versions.PULUMI_KUBERNETES)):
        binary = layout.build_dir(component, version) / name
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\necho fake\n")
        binary.chmod(0o755)
    monkeypatch.setattr(MirrorLayout, "default", staticmethod(lambda: layout))
    monkeypatch.setattr(toolchain, "bin_dir", lambda: tmp_path / "bin")
    out = toolchain.ensure_bin()
    assert (out / "pulumi").read_text() == "#!/bin/sh\necho fake\n"
    host = (out / "pulumi-language-python").read_text()
    assert f"exec {sys.executable} -u -m kubeforge.stack.langhost" in host
    script = (out / "pulumi-resource-pulumi-python").read_text()
    assert f"exec {sys.executable} -u -m pulumi.dynamic" in script


def test_pulumi_env_never_prints_a_users_passphrase(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from kubeforge.stack import cli

    monkeypatch.setattr(toolchain, "prepare", toolchain.environment)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "users-own-secret")
    assert cli.main_env("lab") == 0
    assert "users-own-secret" not in capsys.readouterr().out
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    assert cli.main_env("lab") == 0
    assert f"PULUMI_CONFIG_PASSPHRASE={toolchain.LAB_PASSPHRASE}" in capsys.readouterr().out
    with pytest.raises(KubeforgeError, match="PULUMI_CONFIG_PASSPHRASE"):
        cli.main_env("example-prod")
