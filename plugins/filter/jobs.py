"""A filter for waiting on Ansible's background (async) jobs without polling from the controller.

`async_status` in an `until` loop starts Python on the node at every try: five nodes polled each
second while apt runs in the background cost more CPU than apt itself on a small machine. Instead
a `raw` task runs `job | async_wait_cmd(timeout)`: a shell loop on the node that returns when the
job's results file (named in the registered start) holds the module's result, then one
`async_status` reads that result.
"""

from __future__ import annotations

import shlex
from typing import Any

# while the job runs, async_wrapper's results file holds {"started": ..., "finished": false/0, ...}
# (a finished module's JSON has no top-level "finished" key, and one inside a string is escaped)
_RUNNING = r'"finished": (false|0)'


def async_wait_cmd(job: dict[str, Any], timeout: int | str) -> str:
    """Shell that waits until the background job `job` finished, at most `timeout` seconds."""
    path = shlex.quote(str(job["results_file"]))
    seconds = int(timeout)
    loop = f'while [ ! -s "$0" ] || grep -qE {shlex.quote(_RUNNING)} "$0"; do sleep 0.5; done'
    return (f"timeout {seconds} sh -c {shlex.quote(loop)} {path}"
            f" || {{ echo 'the background job {job.get('ansible_job_id', '')} still runs after"
            f" {seconds} s'; exit 1; }}")


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"async_wait_cmd": async_wait_cmd}
