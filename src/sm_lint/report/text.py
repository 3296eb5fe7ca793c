"""`path:line:col: SMxxx severity: message`, one finding per line (its evidence and its fix indented
under it), a pointer to the rule pages, then a summary line."""
from __future__ import annotations

from typing import List

from sm_lint.findings import Finding, Severity
from sm_lint.report import OUTSIDE_PROFILE, RunInfo, counts, failed
from sm_lint.terminal import printable

_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.INFO: "\033[36m"}
_RESET = "\033[0m"


def render(findings: List[Finding], info: RunInfo) -> str:
    # Every quoted part is printable(): control bytes from Dockerfiles, file names and logs are shown
    # escaped (\x1b), never sent to the terminal; the colour codes are the only raw escapes.
    lines = [printable(f"{label}: {value}") for label, value in info.facts]
    for f in findings:
        where = f.location.path
        if f.location.line:
            where += f":{f.location.line}:{f.location.column}"
        severity = f.severity.label
        if info.color:
            severity = f"{_COLOURS[f.severity]}{severity}{_RESET}"
        lines.append(f"{printable(where)}: {f.rule} {severity}: {printable(f.message)}")
        lines.extend(f"    {printable(item)}" for item in f.evidence)
        if f.fix:
            lines.append(f"    fix: {printable(f.fix)}")
    if findings:
        lines.append("why each rule matters and how to fix it: sm-lint rules SMxxx")
    lines.append(summary(findings, info))
    return "\n".join(lines) + "\n"


_CHECKED = {
    "inspect": "{count} image{s} checked",
    "run": "{count} image{s} run",
    "gate": "{count} target{s} gated",
}


_NOUNS = {"dockerfile": "file", "image": "image", "runtime": "image run"}


def summary(findings: List[Finding], info: RunInfo) -> str:
    count = len(info.targets)
    checked = _CHECKED.get(info.command, "{count} file{s} checked").format(count=count, s="s" if count != 1 else "")
    layers = [layer for _, layer in info.target_layers]
    if info.command == "check" and len(set(layers)) > 1:  # check --image: "1 file and 1 image checked"
        parts = [(noun, layers.count(layer)) for layer, noun in _NOUNS.items() if layer in layers]
        checked = " and ".join(f"{n} {noun}{'s' if n != 1 else ''}" for noun, n in parts) + " checked"
    if info.profile != "processing":  # the default goes unsaid, as before profiles existed
        checked += f" against the {info.profile} profile"
    skipped = [rule for rule, reason in info.skipped if not reason.startswith(OUTSIDE_PROFILE)]
    if skipped:
        checked += f" ({len(skipped)} rule{'s' if len(skipped) != 1 else ''} skipped)"
    if not findings:
        return f"{checked}: no problems"
    by = ", ".join(f"{n} {label}{'s' if n != 1 else ''}" for label, n in counts(findings).items() if n)
    verdict = "failed" if failed(findings, info.fail_on) else "passed"
    return f"{checked}: {len(findings)} finding{'s' if len(findings) != 1 else ''} ({by}); {verdict} (fail-on {info.fail_on})"
