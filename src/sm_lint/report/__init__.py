"""Formatters: each module renders the same findings and run facts to text; one table picks one."""
from __future__ import annotations

import os
import re
from typing import Callable, Dict, List, NamedTuple, Tuple

from sm_lint.findings import Finding, Severity

# Format name -> module under sm_lint.report, imported only when that format is asked for (the
# `check` path must not pay for jinja2 or xml.etree it does not use).
_MODULES = {
    "text": "text",
    "json": "json_format",
    "junit": "junit",
    "html": "html",
    "sarif": "sarif",
    "github": "github",
    "gitlab": "gitlab",
    "checkstyle": "checkstyle",
}
FORMATS = tuple(_MODULES)
# How a skip reason starts when the rule is not part of the profile's contract (console.rule_coverage):
# such rules are listed as skipped in every format, but the text summary does not count them.
OUTSIDE_PROFILE = "does not apply under the "
# The layer a command checks its targets at, when RunInfo.target_layers does not say.
COMMAND_LAYERS = {"check": "dockerfile", "inspect": "image", "run": "runtime"}


class RunInfo(NamedTuple):
    command: str  # "check", "inspect", "run", "gate"
    targets: Tuple[str, ...]  # the files or images examined
    fail_on: str
    titles: Dict[str, str]  # rule id -> title, from the catalogue
    color: bool = False
    facts: Tuple[Tuple[str, str], ...] = ()  # (label, value) lines a report shows besides findings
    rules: Tuple[str, ...] = ()  # rule ids that ran on every target (passing ones show green in JUnit)
    skipped: Tuple[Tuple[str, str], ...] = ()  # (rule id, reason) for rules that could not run
    # (target, layer) pairs: which layer checked which target (`check --image`: the Dockerfile at
    # "dockerfile", the image at "image"); empty: every target at the command's layer.
    target_layers: Tuple[Tuple[str, str], ...] = ()
    profile: str = "processing"  # the SageMaker contract checked (`--profile`); "a, b" when targets differ


def target_layers(info: RunInfo) -> List[Tuple[str, str]]:
    """(target, layer) for every target and layer that checked it, in target order."""
    if info.target_layers:
        return list(info.target_layers)
    layer = COMMAND_LAYERS.get(info.command, "dockerfile")
    return [(target, layer) for target in info.targets]


def failed(findings: List[Finding], fail_on: str) -> bool:
    return any(fails(f, fail_on) for f in findings)


def fails(finding: Finding, fail_on: str) -> bool:
    """Whether this one finding is at or above the failure threshold."""
    return fail_on != "never" and finding.severity >= Severity.parse(fail_on)


def counts(findings: List[Finding]) -> Dict[str, int]:
    result = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for finding in findings:
        result[finding.severity.label] += 1
    return result


def details(finding: Finding) -> str:
    """One finding as the text report writes it: `where: SMxxx severity: message`, then its
    evidence and fix, indented."""
    lines = [f"{where(finding)}: {finding.rule} {finding.severity.label}: {finding.message}"]
    lines.extend(f"    {item}" for item in finding.evidence)
    if finding.fix:
        lines.append(f"    fix: {finding.fix}")
    return "\n".join(lines)


def where(finding: Finding) -> str:
    """`path:line:column`, `path:line`, or the path (or image) alone."""
    loc = finding.location
    if not loc.line:
        return loc.path
    return f"{loc.path}:{loc.line}:{loc.column}" if loc.column else f"{loc.path}:{loc.line}"


def relative_path(path: str) -> str:
    """`path` relative to the working folder when it lies inside it, with `/` separators (what CI
    annotations and code-quality widgets match against the repository); other paths unchanged."""
    if path == "-" or not path:
        return path
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute == cwd or not absolute.startswith(cwd.rstrip(os.sep) + os.sep):
        return path.replace(os.sep, "/")
    return os.path.relpath(absolute, cwd).replace(os.sep, "/")


# XML 1.0 cannot carry these code points even as character references. Compiled on first use:
# this class takes ~5 ms to compile, and `check` imports this module on every run.
_NOT_XML = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def xml_safe(text: str) -> str:
    """Control characters, lone surrogates and U+FFFE/U+FFFF shown as `\\xNN` / `\\uNNNN`:
    an XML parser rejects the whole document for one of them."""
    return re.sub(_NOT_XML, lambda m: ascii(m.group())[1:-1], text)


def renderer(name: str) -> Callable[[List[Finding], RunInfo], str]:
    """The chosen format's `render`; only its module is imported."""
    if name not in _MODULES:
        from sm_lint.errors import UsageError

        raise UsageError(f"unknown report format {name!r} (choose from {', '.join(FORMATS)})")
    # The builtin rather than importlib.import_module: the importlib package costs ~0.5 ms of every
    # `check` start, and with a fromlist __import__ returns the submodule itself.
    module = __import__(f"sm_lint.report.{_MODULES[name]}", fromlist=["render"])
    render: Callable[[List[Finding], RunInfo], str] = module.render
    return render


def facts_by_label(info: RunInfo) -> Dict[str, str]:
    """The facts as an object for JSON-shaped reports: a label given more than once (two notes)
    keeps every value, one per line, rather than the last one alone."""
    merged: Dict[str, str] = {}
    for label, value in info.facts:
        merged[label] = f"{merged[label]}\n{value}" if label in merged else value
    return merged
