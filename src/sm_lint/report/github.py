"""GitHub Actions workflow commands: one `::error` / `::warning` / `::notice` annotation per finding,
then the text report's summary line (a plain log line).

`::error file=PATH,line=N,endLine=M,col=C,title=SMxxx title::message`, escaped as the Actions
toolkit does: `%`, CR and LF in the message; those and `:` and `,` in property values. PATH is
relative to the working folder (the checkout in a workflow), so the annotation lands on the file
in the pull request. Image and runtime findings have no file: the image is named in the message.
"""
from __future__ import annotations

from typing import List

from sm_lint.catalogue import Catalogue
from sm_lint.findings import Finding, Severity
from sm_lint.report import COMMAND_LAYERS, RunInfo, relative_path
from sm_lint.report.text import summary

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings: List[Finding], info: RunInfo) -> str:
    catalogue = Catalogue.load()
    default_layer = COMMAND_LAYERS.get(info.command, "dockerfile")
    lines = []
    for finding in findings:
        layer = catalogue[finding.rule].layer if finding.rule in catalogue else default_layer
        loc = finding.location
        title = f"{finding.rule} {info.titles.get(finding.rule, '')}".strip()
        if info.profile != "processing":  # the contract the annotation is about, when not the default
            title += f" ({info.profile})"
        props = []
        message = [finding.message]
        if layer == "dockerfile" or loc.line:
            props.append(("file", relative_path(loc.path)))
            if loc.line:
                props.append(("line", str(loc.line)))
                if loc.end_line > loc.line:
                    props.append(("endLine", str(loc.end_line)))
                if loc.column:
                    props.append(("col", str(loc.column)))
        else:
            message = [f"{loc.path}: {finding.message}"]
        props.append(("title", title))
        message.extend(finding.evidence)
        if finding.fix:
            message.append(f"fix: {finding.fix}")
        head = ",".join(f"{key}={escape_property(value)}" for key, value in props)
        lines.append(f"::{COMMANDS[finding.severity]} {head}::{escape_data(chr(10).join(message))}")
    lines.append(summary(findings, info))
    return "\n".join(lines) + "\n"
