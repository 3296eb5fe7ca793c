"""Checkstyle XML (version 4.3), read by Jenkins warnings-ng, reviewdog, SonarQube importers and
others: a `<file>` per target (also the clean ones, as Checkstyle lists every file it checked)
and an `<error line column severity message source="sm-lint.SMxxx"/>` per finding. An image
target's `<file name>` is the image reference and its errors have no line. The fix follows the
message after "Fix:"; evidence is left to the richer formats.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Dict, List

from sm_lint.findings import Finding
from sm_lint.report import RunInfo, relative_path, xml_safe


def render(findings: List[Finding], info: RunInfo) -> str:
    files: Dict[str, List[Finding]] = {relative_path(target): [] for target in info.targets}
    for finding in findings:
        files.setdefault(relative_path(finding.location.path), []).append(finding)
    root = ET.Element("checkstyle", version="4.3")
    for name, found in files.items():
        element = ET.SubElement(root, "file", name=xml_safe(name))
        for finding in found:
            attributes = {}
            if finding.location.line:
                attributes["line"] = str(finding.location.line)
                if finding.location.column:
                    attributes["column"] = str(finding.location.column)
            message = finding.message + (f" Fix: {finding.fix}" if finding.fix else "")
            attributes["severity"] = finding.severity.label
            attributes["message"] = xml_safe(message)
            attributes["source"] = f"sm-lint.{finding.rule}"
            ET.SubElement(element, "error", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
