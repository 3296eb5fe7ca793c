"""What a scenario returns: hits for the stamping engine, facts for the report, a skip reason."""
from __future__ import annotations

import time
from typing import List, NamedTuple, Optional, Tuple

from sm_lint.findings import Hit


class Outcome(NamedTuple):
    scenario: str
    hits: List[Tuple[str, Hit]]  # (rule id, hit)
    facts: List[Tuple[str, str]]
    skipped: Optional[str] = None  # why the scenario could not run; None when it ran


class Timeline:
    """`t+1.234s what happened` lines, measured from the job's start."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.lines: List[str] = []

    def restart(self, origin: float) -> None:
        self.origin = origin

    def add(self, what: str, at: Optional[float] = None) -> float:
        moment = time.monotonic() if at is None else at
        self.lines.append(f"t+{moment - self.origin:.3f}s {what}")
        return moment


def exit_words(code: int, oom_killed: bool = False) -> str:
    """`exited with code 137 (SIGKILL)`: 128+N is death by signal N, as shells and Docker report it."""
    from sm_lint.harness.procstatus import signal_name

    text = f"exited with code {code}"
    if code > 128 and code - 128 < 65:
        text += f" ({signal_name(code - 128)})"
    if oom_killed:
        text += ", killed for running out of memory"
    return text


def log_evidence(host: str, tail: List[str]) -> Tuple[str, ...]:
    """A log tail as evidence, the one way every finding shows it: a heading, then indented lines."""
    if not tail:
        return (f"{host} wrote nothing to stdout or stderr",)
    return (f"last log lines of {host}:",) + tuple(f"  {line}" for line in tail)
