"""The Dockerfile engine: parse, model the stages, run every check once, then stamp rule ids and
severities and apply suppressions, all in one place."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from sm_lint.catalogue import Catalogue
from sm_lint.config import Settings
from sm_lint.dockerfile import pragmas as pragma_mod
from sm_lint.dockerfile.checks import CHECKS
from sm_lint.dockerfile.context import LintContext
from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.stages import Build, BuildError, build
from sm_lint.dockerfile.syntax import DockerfileSyntaxError
from sm_lint.findings import NOT_CHECKED_FURTHER, Finding, Hit
from sm_lint.profiles import get as get_profile
from sm_lint.stamping import stamp


def lint_text(text: str, path: str, settings: Settings, catalogue: Catalogue,
              context_dir: Optional[Path] = None, today: Optional[datetime.date] = None) -> List[Finding]:
    today = today or datetime.date.today()
    ignored = settings.ignored(today)
    hits: List[Tuple[str, Hit]] = []
    try:
        parsed = parse(text)
    except DockerfileSyntaxError as error:
        hits.append(("SM100", Hit(max(error.line, 1), f"Docker cannot parse this Dockerfile: {error.message}",
                                  evidence=(NOT_CHECKED_FURTHER,))))
        return stamp(hits, path, settings, catalogue, today)
    model: Optional[Build] = None
    try:
        model = build(parsed, dict(settings.build_args), settings.target, settings.platform)
    except BuildError as error:
        hits.append(("SM100", Hit(max(error.line, 1), error.message)))
    ctx = LintContext(path, parsed, model, settings.gpu, context_dir, get_profile(settings.profile))
    for rule_id, check in CHECKS.items():
        # A rule whose page does not list this profile does not run (reports list it as skipped).
        if rule_id not in ignored and (rule_id not in catalogue or catalogue[rule_id].applies(settings.profile)):
            hits.extend((rule_id, hit) for hit in check(ctx))

    found = pragma_mod.collect(parsed, catalogue.rules)
    hits.extend(("SM190", Hit(line, message)) for line, message in found.problems)
    if settings.inline_ignores and found.pragmas:
        used: Dict[Tuple[int, str], bool] = {}
        kept = []
        for rule_id, hit in hits:
            pragma = pragma_mod.suppressing(found.pragmas, rule_id, hit.line) if rule_id != "SM190" else None
            if pragma is None:
                kept.append((rule_id, hit))
            else:
                used[(pragma.line, rule_id)] = True
        hits = kept
        for line, rule_id in pragma_mod.unused(found.pragmas, used):
            if rule_id not in ignored:
                hits.append(("SM191", Hit(line, f"sm-lint pragma ignores {rule_id}, which reports nothing here")))
    return stamp(hits, path, settings, catalogue, today)
