"""kubeforge's Pulumi language host, over real gRPC, and the child command it runs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from kubeforge.stack import langhost


@pytest.fixture
def host() -> Iterator[language_pb2_grpc.LanguageRuntimeStub]:
    # started the way the engine starts it: a process that prints its port first
    proc = subprocess.Popen([sys.executable, "-m", "kubeforge.stack.langhost", "127.0.0.1:1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        yield language_pb2_grpc.LanguageRuntimeStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait()


def test_reports_the_kubernetes_plugin_the_sdk_declares(
        host: language_pb2_grpc.LanguageRuntimeStub) -> None:
    from importlib import metadata

    resp = host.GetRequiredPackages(language_pb2.GetRequiredPackagesRequest())
    found = {p.name: p.version for p in resp.packages}
    assert found.get("kubernetes") == metadata.version("pulumi-kubernetes")
    assert all(p.kind == "resource" for p in resp.packages)


def test_plugin_info_is_the_sdk_version(host: language_pb2_grpc.LanguageRuntimeStub) -> None:
    from importlib import metadata

    info = host.GetPluginInfo(empty_pb2.Empty())
    assert info.version == metadata.version("pulumi")


def test_run_reports_a_failing_program(host: language_pb2_grpc.LanguageRuntimeStub,
                                       tmp_path: Path) -> None:
    """A program that cannot reach a monitor fails; the host says so instead of hanging."""
    program = tmp_path / "__main__.py"
    program.write_text("import pulumi\npulumi.export('x', 1)\n")
    started = time.monotonic()
    resp = host.Run(language_pb2.RunRequest(
        project="p", stack="s", pwd=str(tmp_path), program=str(tmp_path),
        monitor_address="127.0.0.1:1", parallel=1,
        info=language_pb2.ProgramInfo(root_directory=str(tmp_path),
                                      program_directory=str(tmp_path), entry_point=".")),
        timeout=120)
    assert resp.error or resp.bail
    assert time.monotonic() - started < 120


def test_program_command_carries_the_engine_settings() -> None:
    req = language_pb2.RunRequest(
        project="kubeforge-cluster", stack="lab", pwd="/p", program="/p", dryRun=True,
        parallel=8, monitor_address="127.0.0.1:9", organization="org", args=["a"],
        info=language_pb2.ProgramInfo(root_directory="/p", program_directory="/p",
                                      entry_point="."))
    cmd = langhost.program_command(req, "127.0.0.1:7")
    assert cmd[1:4] == ["-u", "-m", "kubeforge.stack.runprogram"]
    flags = dict(zip(cmd[4::2], cmd[5::2], strict=False))
    assert flags["--monitor"] == "127.0.0.1:9" and flags["--engine"] == "127.0.0.1:7"
    assert flags["--stack"] == "lab" and flags["--parallel"] == "8"
    assert "--dry-run" in cmd and cmd[-2:] == ["/p", "a"]
