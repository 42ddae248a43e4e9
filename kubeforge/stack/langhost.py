"""A Pulumi language host for Python programs, started by the engine as `pulumi-language-python`.

Upstream's host is a Go module (sdk/python/cmd/pulumi-language-python) that the Go module proxy
does not serve, and no package registry ships its binary; the engine only needs its gRPC service,
which the `pulumi` PyPI package defines. This host serves that protocol: it reports the resource
plugins the installed packages declare, and runs the program in a child Python
(`kubeforge.stack.runprogram`) wired to the engine's resource monitor.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from concurrent import futures
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

from kubeforge.stack.runprogram import USER_ACTIONABLE_EXIT


@functools.cache
def declared_plugins() -> tuple[dict[str, str], ...]:
    """Resource plugins the installed distributions declare in their pulumi-plugin.json.

    Read once per host process (one per engine run): the engine asks for plugins and packages."""
    found: dict[str, dict[str, str]] = {}
    for dist in metadata.distributions():
        for f in dist.files or ():
            if f.name != "pulumi-plugin.json":
                continue
            try:
                data = json.loads(Path(str(dist.locate_file(f))).read_text())
            except (OSError, ValueError):
                continue
            if data.get("resource") and data.get("name"):
                version = str(data.get("version") or dist.version)
                found[data["name"]] = {"name": str(data["name"]), "version": version,
                                       "server": str(data.get("server") or "")}
    return tuple(sorted(found.values(), key=lambda p: p["name"]))


def _dependencies(message: Any) -> list[Any]:
    """declared_plugins() as PluginDependency or PackageDependency messages (same fields)."""
    return [message(kind="resource", **p) for p in declared_plugins()]


def program_command(request: Any, engine: str) -> list[str]:
    """The child command that runs the program of a RunRequest."""
    info = request.info
    program = request.program or info.program_directory
    if info.entry_point and info.entry_point != ".":
        program = str(Path(info.program_directory or request.pwd) / info.entry_point)
    cmd = [sys.executable, "-u", "-m", "kubeforge.stack.runprogram",
           "--monitor", request.monitor_address, "--engine", engine,
           "--project", request.project, "--stack", request.stack,
           "--parallel", str(request.parallel), "--organization", request.organization,
           "--root-directory", info.root_directory]
    if request.dryRun:
        cmd.append("--dry-run")
    if request.pwd:
        cmd += ["--pwd", request.pwd]
    return [*cmd, program, *request.args]


def program_env(request: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    return env


class PythonHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str) -> None:
        self.engine = engine

    def Handshake(self, request: Any, context: Any) -> Any:
        self.engine = request.engine_address or self.engine
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=metadata.version("pulumi"))

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPluginsResponse(
            plugins=_dependencies(plugin_pb2.PluginDependency))

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse(
            packages=_dependencies(plugin_pb2.PackageDependency))

    def InstallDependencies(self, request: Any, context: Any) -> Any:
        # The project runs in kubeforge's own virtualenv (`make setup`): nothing to install.
        yield language_pb2.InstallDependenciesResponse(
            stdout=b"dependencies come from kubeforge's virtualenv (make setup)\n")

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:
        deps = [language_pb2.DependencyInfo(name=d.metadata["Name"], version=d.version)
                for d in metadata.distributions() if d.metadata["Name"]]
        return language_pb2.GetProgramDependenciesResponse(dependencies=deps)

    def About(self, request: Any, context: Any) -> Any:
        return language_pb2.AboutResponse(executable=sys.executable,
                                          version=sys.version.split()[0])

    def Run(self, request: Any, context: Any) -> Any:
        proc = subprocess.run(program_command(request, self.engine), env=program_env(request),
                              check=False)
        if proc.returncode == 0:
            return language_pb2.RunResponse()
        if proc.returncode == USER_ACTIONABLE_EXIT:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(
            error=f"the Python program exited with code {proc.returncode}")

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()


def main(argv: list[str] | None = None) -> int:
    # The engine passes its own address as the last argument (and may send it by Handshake).
    args = sys.argv[1:] if argv is None else argv
    engine = args[-1] if args and not args[-1].startswith("-") else ""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(PythonHost(engine), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # the engine reads the port from the first line of stdout
    print(port, flush=True)
    # the engine stops its plugins with SIGINT when the run is over
    with contextlib.suppress(KeyboardInterrupt):
        server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
