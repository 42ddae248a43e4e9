"""etcd_backup: the snapshot timer is installed and active, and the service it starts leaves a
snapshot that etcdutl reads back, with a matching sha256 file."""

from __future__ import annotations

import json
from typing import Any

testinfra_hosts = ["ansible://control_plane"]

UNIT = "kubeforge-etcd-snapshot"


def test_timer_enabled_and_waiting(host: Any) -> None:
    timer = host.service(f"{UNIT}.timer")
    assert timer.is_enabled
    assert timer.is_running
    assert "OnCalendar=" in host.check_output(f"systemctl show -P TimersCalendar {UNIT}.timer")


def test_the_timer_service_takes_a_verified_snapshot(host: Any, group_vars: dict[str, Any]) -> None:
    folder = group_vars["kubeforge_etcd_backup"]["dir"]
    run = host.run(f"systemctl start {UNIT}.service")
    assert run.rc == 0, host.run(f"journalctl -u {UNIT}.service -n 30 --no-pager").stdout
    newest = host.check_output(f"/usr/local/sbin/{UNIT} list | head -n1")
    assert newest.endswith(".db")
    assert host.run(f"cd {folder} && sha256sum -c {newest}.sha256").rc == 0
    status = json.loads(host.check_output(
        f"/usr/local/bin/etcdutl snapshot status {folder}/{newest} --write-out=json"))
    assert status["totalKey"] > 0
