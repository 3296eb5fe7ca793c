"""SARIF 2.1.0 (OASIS), for GitHub code scanning and SARIF viewers.

One run; `tool.driver.rules` holds every rule that ran, was skipped or reported, with the
catalogue's title, "What it does" (fullDescription), "Why is this bad?" (help.text) and the whole
rule page (help.markdown). Dockerfile findings have a physical location relative to the working
folder (`%SRCROOT%`, declared in `originalUriBaseIds`) with a region; image and runtime findings
name the image as a logical location, since there is no source file to point into. Fixes are text
(in the message and the rule's help), never SARIF `fixes`: sm-lint has no edits to offer. Rules
that did not run are configuration notifications of the invocation.
"""
from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List

from sm_lint import __version__
from sm_lint.catalogue import Catalogue, Rule
from sm_lint.findings import Finding, Severity
from sm_lint.profiles import NAMES as PROFILE_NAMES
from sm_lint.report import COMMAND_LAYERS, RunInfo, facts_by_label, relative_path

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# The project's page. Rules carry no helpUri: the rule pages are not published anywhere yet, and a
# file:// link to the installed package would name the CI machine's paths; help.markdown holds the
# whole page instead (what `sm-lint rules SMxxx` prints).
INFORMATION_URI = "https://pypi.org/project/sm-lint/"
SRCROOT = "%SRCROOT%"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(findings: List[Finding], info: RunInfo) -> str:
    catalogue = Catalogue.load()
    default_layer = COMMAND_LAYERS.get(info.command, "dockerfile")
    ids = sorted(set(info.rules) | {f.rule for f in findings} | {rule for rule, _ in info.skipped})
    index = {rule_id: i for i, rule_id in enumerate(ids)}
    rules = [_rule(catalogue[r]) if r in catalogue else _bare_rule(r, info.titles.get(r, "")) for r in ids]

    results = []
    for finding in findings:
        layer = catalogue[finding.rule].layer if finding.rule in catalogue else default_layer
        results.append({
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": LEVELS[finding.severity],
            "message": {"text": _message(finding)},
            "locations": [_location(finding, layer)],
        })

    invocation: Dict[str, Any] = {"executionSuccessful": True}
    if info.skipped:
        invocation["toolConfigurationNotifications"] = [
            {"level": "note", "message": {"text": f"{rule} did not run: {reason}"},
             "associatedRule": {"id": rule, "index": index[rule]}}
            for rule, reason in info.skipped
        ]
    run: Dict[str, Any] = {
        "tool": {"driver": {
            "name": "sm-lint",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": rules,
        }},
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"uri": _directory_uri(os.getcwd())}},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"command": info.command, "profile": info.profile, "targets": list(info.targets),
                       "failOn": info.fail_on,
                       "facts": facts_by_label(info)},
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


def _rule(rule: Rule) -> Dict[str, Any]:
    why = rule.section("Why is this bad?")
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.name.split("-")),  # SARIF wants PascalCase
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.section("What it does") or rule.title},
        "help": {"text": why or rule.title, "markdown": rule.document().strip()},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"tags": [rule.layer], "profiles": list(rule.profiles or PROFILE_NAMES)},
    }


def _bare_rule(rule_id: str, title: str) -> Dict[str, Any]:
    return {"id": rule_id, "shortDescription": {"text": title or rule_id}}


def _message(finding: Finding) -> str:
    lines = [finding.message]
    lines.extend(finding.evidence)
    if finding.fix:
        lines.append(f"Fix: {finding.fix}")
    return "\n".join(lines)


def _location(finding: Finding, layer: str) -> Dict[str, Any]:
    loc = finding.location
    if layer != "dockerfile" and not loc.line:
        # An image or a running container: no source file, the image reference names the place.
        return {"logicalLocations": [{"name": loc.path, "fullyQualifiedName": loc.path, "kind": "resource"}]}
    path = relative_path(loc.path)
    if os.path.isabs(path):
        artifact: Dict[str, Any] = {"uri": Path(path).as_uri()}
    else:
        artifact = {"uri": urllib.parse.quote(path), "uriBaseId": SRCROOT}
    physical: Dict[str, Any] = {"artifactLocation": artifact}
    if loc.line > 0:
        region: Dict[str, Any] = {"startLine": loc.line}
        if loc.column > 0:
            region["startColumn"] = loc.column
        region["endLine"] = max(loc.end_line, loc.line)
        physical["region"] = region
    return {"physicalLocation": physical}


def _directory_uri(folder: str) -> str:
    uri = Path(folder).as_uri()
    return uri if uri.endswith("/") else uri + "/"
