"""The detached process that keeps one lab machine running: `python -m kubeforge.lab.supervisor
CONFIG.json`.

It joins the machine's cgroups (so nspawn and everything in the machine start there), runs
systemd-nspawn, boots the machine again when it reboots itself (nspawn exits 133, which a host
systemd unit would normally handle), and turns SIGTERM into a clean poweroff of the machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

REBOOT_EXIT = 133


def _log(text: str) -> None:
    print(f"kubeforge-supervisor[{os.getpid()}] {time.strftime('%H:%M:%S')} {text}", flush=True)


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    for procs in config["cgroup_procs"]:
        Path(procs).write_text(str(os.getpid()))
    env = {**os.environ, **config["env"]}
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            # nspawn forwards it to the machine's init as its kill signal: a clean poweroff.
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while True:
        _log("starting: " + " ".join(config["argv"]))
        child = subprocess.Popen(config["argv"], env=env, stdin=subprocess.DEVNULL)
        rc = child.wait()
        _log(f"systemd-nspawn exited {rc}")
        if rc != REBOOT_EXIT or stopping:
            return 0 if stopping else rc
        _log("machine rebooted itself: booting it again")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
