"""The offline Pulumi toolchain and the environment every `pulumi` run gets.

- `pulumi` and `pulumi-resource-kubernetes` come from the mirror (built from Go modules).
- `pulumi-language-python` is kubeforge's language host and `pulumi-resource-pulumi-python` runs
  Python dynamic providers; both are small scripts bound to this virtualenv's interpreter, so
  they live in the checkout (.cache/pulumi/bin), next to a copy of `pulumi` (the engine looks
  for its bundled plugins beside its own executable).
- Plugins are installed into a machine-wide PULUMI_HOME; nothing is ever downloaded: automatic
  plugin acquisition and the update check are off, so a missing plugin fails at once, by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from kubeforge import paths, versions
from kubeforge.errors import KubeforgeError
from kubeforge.mirror.components import ensure_pulumi_toolchain
from kubeforge.mirror.layout import MirrorLayout
from kubeforge.stack import cache_dir

STACKS = paths.ROOT / "stacks" / "cluster"
# The lab's stacks use a known passphrase (their secrets are lab credentials); any other stack
# needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE from the user.
LAB_PASSPHRASE = "kubeforge-lab"

_SCRIPTS = {
    "pulumi-language-python": "exec {python} -u -m kubeforge.stack.langhost \"$@\"\n",
    "pulumi-resource-pulumi-python": "exec {python} -u -m pulumi.dynamic \"$@\"\n",
}


def bin_dir() -> Path:
    return cache_dir() / "bin"


def pulumi_home() -> Path:
    return paths.cache_dir() / "pulumi" / "home"


def state_url() -> str:
    return f"file://{cache_dir() / 'state'}"


def _same_file(src: Path, dest: Path) -> bool:
    return dest.is_file() and dest.stat().st_size == src.stat().st_size \
        and dest.stat().st_mtime >= src.stat().st_mtime


def ensure_bin() -> Path:
    """The checkout's bin folder: pulumi, the language host and the dynamic-provider host."""
    tools = ensure_pulumi_toolchain(MirrorLayout.default())
    out = bin_dir()
    out.mkdir(parents=True, exist_ok=True)
    pulumi = out / "pulumi"
    if not _same_file(tools["pulumi"], pulumi):
        shutil.copy2(tools["pulumi"], pulumi)
    for name, body in _SCRIPTS.items():
        text = "#!/bin/sh\n" + body.format(python=sys.executable)
        script = out / name
        if not script.is_file() or script.read_text() != text:
            script.write_text(text)
            script.chmod(0o755)
    return out


def environment(passphrase_default: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir()}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}" \
                  f"{env.get('PATH', '')}"
    env.update({"PULUMI_HOME": str(pulumi_home()), "PULUMI_SKIP_UPDATE_CHECK": "true",
                "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
                "PULUMI_PYTHON_CMD": sys.executable})
    env.setdefault("PULUMI_BACKEND_URL", state_url())
    if passphrase_default and not (env.get("PULUMI_CONFIG_PASSPHRASE")
                                   or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase_default
    return env


def provider_installed() -> bool:
    """Whether the mirror's kubernetes provider is installed as a plugin (its first build is the
    slow part of a fresh machine's first stack run)."""
    plugin = pulumi_home() / "plugins" / f"resource-kubernetes-v{versions.PULUMI_KUBERNETES}"
    return (plugin / "pulumi-resource-kubernetes").is_file()


def ensure_plugins(env: dict[str, str]) -> None:
    """Install the mirror's kubernetes provider as resource plugin kubernetes v<version>."""
    version = versions.PULUMI_KUBERNETES
    if provider_installed():
        return
    source = ensure_pulumi_toolchain(MirrorLayout.default())["pulumi-resource-kubernetes"]
    cmd = [str(bin_dir() / "pulumi"), "plugin", "install", "resource", "kubernetes",
           f"v{version}", "--file", str(source)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise KubeforgeError(f"`{' '.join(cmd)}` failed:\n{proc.stderr.strip()}")
    print(f"[kubeforge] installed resource plugin kubernetes v{version} into {pulumi_home()}")


def prepare(passphrase_default: str | None = None) -> dict[str, str]:
    """Make the toolchain ready; returns the environment to run `pulumi` with."""
    ensure_bin()
    env = environment(passphrase_default)
    backend = env["PULUMI_BACKEND_URL"]
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    ensure_plugins(env)
    return env
