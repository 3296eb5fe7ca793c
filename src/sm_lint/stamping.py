"""Where rule ids and severities are decided, for every layer: the catalogue's default severity,
then the config's override; config ignores drop hits here too."""
from __future__ import annotations

import datetime
from typing import Dict, List, Optional, Tuple

from sm_lint.catalogue import Catalogue
from sm_lint.config import Settings
from sm_lint.findings import Finding, Hit, Location, Severity


def stamp(hits: List[Tuple[str, Hit]], path: str, settings: Settings, catalogue: Catalogue,
          today: Optional[datetime.date] = None) -> List[Finding]:
    ignored = settings.ignored(today or datetime.date.today())
    overrides: Dict[str, Severity] = dict(settings.severity)
    seen = set()
    findings = []
    for rule_id, hit in hits:
        key = (rule_id, hit.line, hit.message)
        if rule_id in ignored or key in seen:
            continue
        seen.add(key)
        severity = overrides.get(rule_id) or catalogue[rule_id].severity
        findings.append(Finding(rule_id, severity, hit.message, Location(path, hit.line, hit.column, hit.end_line),
                                hit.fix, hit.evidence))
    return sorted(findings, key=Finding.sort_key)
