"""Where a playbook run stopped, read from ansible's output as it streams: each host that failed
or did not answer, the step it was in and ansible's own words, so that the last lines of a failed
run say what to look at instead of only an exit code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

TASK = re.compile(r"^TASK \[(?P<task>.*)\] \*+$")
FATAL = re.compile(r"^fatal: \[(?P<host>[^\]]+)\]: (?P<kind>UNREACHABLE|FAILED)! => (?P<rest>.*)$")
IGNORING = "...ignoring"


@dataclass(frozen=True)
class Stop:
    host: str
    unreachable: bool
    step: str
    why: str

    def line(self) -> str:
        if self.unreachable:
            return (f"{self.host} did not answer in step '{self.step}': {self.why}. Bring it "
                    "back (or fix SSH to it) and run the same command again: it resumes where "
                    "it stopped")
        return f"{self.host} failed in step '{self.step}': {self.why}"


def _why(rest: str) -> str:
    try:
        result = json.loads(rest)
    except ValueError:
        return rest.strip()[:300]
    if not isinstance(result, dict):
        return str(result)[:300]
    msg = str(result.get("msg") or result.get("stderr") or "").strip()
    return " ".join(msg.split())[:300] or "(no message)"


@dataclass
class Outcome:
    """Fed ansible's output line by line (`feed`); `stops` are the failures that counted."""
    stops: list[Stop] = field(default_factory=list)
    _task: str = ""

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if m := TASK.match(line):
            self._task = m["task"]
        elif m := FATAL.match(line):
            self.stops.append(Stop(m["host"].split(" -> ")[0], m["kind"] == "UNREACHABLE",
                                   self._task, _why(m["rest"])))
        elif line.strip() == IGNORING and self.stops:
            self.stops.pop()  # the task had ignore_errors: it did not stop anything
