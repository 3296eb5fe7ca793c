"""GitLab Code Quality report (`artifacts: reports: codequality`): a JSON array of issues in GitLab's
subset of the Code Climate format.

Severity: error -> major, warning -> minor, info -> info (GitLab's scale runs info, minor, major,
critical, blocker; sm-lint has three levels and keeps the top two of GitLab's free). The
fingerprint is a SHA-256 of rule, path and message, plus an occurrence number for repeats, and
not of the line: GitLab compares fingerprints between the base and the merge request, so moving
an instruction does not turn an old finding into a new one. Paths are relative to the working
folder (the project directory in a GitLab job); image and runtime findings carry the image
reference as their path and line 1.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, List

from sm_lint.findings import Finding, Severity
from sm_lint.report import RunInfo, relative_path

SEVERITIES = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def fingerprint(finding: Finding, path: str, occurrence: int) -> str:
    key = "\0".join((finding.rule, path, finding.message, str(occurrence)))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def render(findings: List[Finding], info: RunInfo) -> str:
    issues: List[Dict[str, Any]] = []
    seen: Dict[tuple, int] = {}
    for finding in findings:
        path = relative_path(finding.location.path)
        key = (finding.rule, path, finding.message)
        seen[key] = seen.get(key, 0) + 1
        body = [f"**{finding.rule}** {info.titles.get(finding.rule, '')}".rstrip(), "", finding.message]
        if finding.evidence:
            body += [""] + [f"- {item}" for item in finding.evidence]
        if finding.fix:
            body += ["", f"Fix: {finding.fix}"]
        issues.append({
            "type": "issue",
            "engine_name": "sm-lint",
            "check_name": finding.rule,
            "description": f"{finding.rule}: {finding.message}",
            "content": {"body": "\n".join(body)},
            "categories": ["Bug Risk"],
            "fingerprint": fingerprint(finding, path, seen[key]),
            "severity": SEVERITIES[finding.severity],
            "location": {"path": path, "lines": {"begin": max(finding.location.line, 1)}},
        })
    return json.dumps(issues, indent=2) + "\n"
