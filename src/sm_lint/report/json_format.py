"""The stable JSON report (version 1), documented in the README."""
from __future__ import annotations

import json
from typing import List

from sm_lint import __version__
from sm_lint.findings import Finding
from sm_lint.report import RunInfo, counts, facts_by_label, failed

VERSION = 1


def render(findings: List[Finding], info: RunInfo) -> str:
    document = {
        "version": VERSION,
        "tool": {"name": "sm-lint", "version": __version__},
        "command": info.command,
        "profile": info.profile,
        "facts": facts_by_label(info),
        "findings": [
            {
                "rule": f.rule,
                "title": info.titles.get(f.rule, ""),
                "severity": f.severity.label,
                "message": f.message,
                "path": f.location.path,
                "line": f.location.line,
                "column": f.location.column,
                "end_line": f.location.end_line or f.location.line,
                "fix": f.fix,
                "evidence": list(f.evidence),
            }
            for f in findings
        ],
        "skipped": [{"rule": rule, "reason": reason} for rule, reason in info.skipped],
        "summary": {
            "targets": len(info.targets),
            "findings": len(findings),
            "by_severity": counts(findings),
            "fail_on": info.fail_on,
            "failed": failed(findings, info.fail_on),
        },
    }
    return json.dumps(document, indent=2) + "\n"
