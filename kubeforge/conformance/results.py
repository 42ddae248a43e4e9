"""What a run did: ginkgo's JUnit report read into a summary, and its live output into progress.

The JUnit report is the truth (written once, at the end); the live output only tells a person
how far the run is, so reading it never decides the result.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kubeforge.errors import KubeforgeError
from kubeforge.mirror.fsutil import human_duration


@dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        return self.passed + self.failed

    def line(self) -> str:
        return (f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped "
                f"in {human_duration(self.seconds)}")


# Ginkgo's own nodes in the report: suite setup and teardown, not specs.
_NOT_SPECS = re.compile(r"^\[(SynchronizedBeforeSuite|SynchronizedAfterSuite|BeforeSuite|"
                        r"AfterSuite|ReportBeforeSuite|ReportAfterSuite|DeferCleanup[^\]]*)\]")


def parse_junit(path: Path) -> Summary:
    """Count the specs of a ginkgo JUnit report; a failed setup node counts as a failure."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise KubeforgeError(f"cannot read the JUnit report {path}: {exc}") from exc
    out = Summary()
    for case in root.iter("testcase"):
        name = case.get("name", "")
        failed = case.find("failure") is not None or case.find("error") is not None
        if _NOT_SPECS.match(name) and not failed:
            continue
        out.seconds += float(case.get("time") or 0)
        if failed:
            out.failed += 1
            out.failures.append(name)
        elif (skipped := case.find("skipped")) is not None:
            # ginkgo lists every spec the selection left out as skipped with this bare message;
            # a spec that skipped itself says why
            if skipped.get("message", "") != "skipped":
                out.skipped += 1
        else:
            out.passed += 1
    suite_time = [float(s.get("time") or 0) for s in root.iter("testsuite")]
    if suite_time and max(suite_time) > 0:
        out.seconds = max(suite_time)  # wall clock of a parallel run, not the sum of its specs
    return out


_WILL_RUN = re.compile(r"Will run (\d+) of (\d+) specs")
# Ginkgo's default reporter prints one "•" per spec that ran (green for a pass, followed by
# "[FAILED]" and the spec's text for a failure) and "S" per skipped spec.
_FAILED = re.compile(r"• \[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Progress:
    """Reads ginkgo's console output as it comes; `feed` returns the failures seen in a chunk."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    _pending: str = ""
    _want_name: bool = False

    def feed(self, text: str) -> list[str]:
        text = _ANSI.sub("", text)
        # a parallel run prints its marks on one long line: count them as they come
        self.done += text.count("•")
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()  # a partial line waits for the rest
        failures: list[str] = []
        for line in lines:
            if self.total is None and (m := _WILL_RUN.search(line)):
                self.total = int(m.group(1))
            if self._want_name:
                # the line after the marker: the spec's full text (its location comes next)
                if line.strip() and not line.strip().startswith("/"):
                    failures.append(line.strip())
                    self._want_name = False
                continue
            if _FAILED.search(line):
                self.failed += 1
                self._want_name = True
        return failures

    def line(self, elapsed: float) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        return (f"[conformance] {self.done}{total} specs done, {self.failed} failed, "
                f"{human_duration(elapsed)} elapsed")
