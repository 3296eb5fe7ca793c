"""Formatters: each module renders the same findings and run facts to text; one table picks one."""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Tuple

from sm_lint.findings import Finding, Severity


class RunInfo(NamedTuple):
    command: str  # "check", "inspect", "run"
    targets: Tuple[str, ...]  # the files or images examined
    fail_on: str
    titles: Dict[str, str]  # rule id -> title, from the catalogue
    color: bool = False
    facts: Tuple[Tuple[str, str], ...] = ()  # (label, value) lines a report shows besides findings
    rules: Tuple[str, ...] = ()  # rule ids that ran on every target (passing ones show green in JUnit)
    skipped: Tuple[Tuple[str, str], ...] = ()  # (rule id, reason) for rules that could not run


def failed(findings: List[Finding], fail_on: str) -> bool:
    if fail_on == "never":
        return False
    threshold = Severity.parse(fail_on)
    return any(f.severity >= threshold for f in findings)


def counts(findings: List[Finding]) -> Dict[str, int]:
    result = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for finding in findings:
        result[finding.severity.label] += 1
    return result


def renderer(name: str) -> Callable[[List[Finding], RunInfo], str]:
    # Imported on demand so that a run loads only the formatter it uses.
    if name == "json":
        from sm_lint.report import json_format
        return json_format.render
    from sm_lint.report import text
    return text.render


FORMATS = ("text", "json")
