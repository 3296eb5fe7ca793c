"""`sm-lint rules [ID]`: the catalogue as a table, or one rule's page."""
from __future__ import annotations

import json
import sys
from typing import Optional, Tuple

from sm_lint.catalogue import RULE_ID, Catalogue, Rule
from sm_lint.errors import EXIT_OK, UsageError
from sm_lint.profiles import NAMES


def show(rule_id: Optional[str], fmt: str) -> int:
    catalogue = Catalogue.load()
    if rule_id is None:
        sys.stdout.write(_table(catalogue, fmt))
        return EXIT_OK
    wanted = rule_id.upper()
    if not RULE_ID.match(wanted) or wanted not in catalogue:
        raise UsageError(f"unknown rule id {rule_id!r} (see `sm-lint rules`)")
    rule = catalogue[wanted]
    sys.stdout.write(json.dumps(_record(rule), indent=2) + "\n" if fmt == "json" else _page(rule))
    return EXIT_OK


def _record(rule: Rule) -> dict:
    return {"id": rule.id, "name": rule.name, "title": rule.title, "severity": rule.severity.label,
            "layer": rule.layer, "profiles": list(_profiles(rule)), "sources": list(rule.sources),
            "doc": rule.document().strip()}


def _profiles(rule: Rule) -> Tuple[str, ...]:
    """The profiles the rule applies under (a page without the key applies under all of them)."""
    return rule.profiles or NAMES


def _profiles_text(rule: Rule) -> str:
    return "all" if set(_profiles(rule)) == set(NAMES) else ", ".join(_profiles(rule))


def _table(catalogue: Catalogue, fmt: str) -> str:
    if fmt == "json":
        return json.dumps([_record(rule) for rule in catalogue], indent=2) + "\n"
    lines = [f"{'ID':<6} {'SEVERITY':<8} {'LAYER':<10} {'PROFILES':<36} TITLE"]
    lines += [f"{r.id:<6} {r.severity.label:<8} {r.layer:<10} {_profiles_text(r):<36} {r.title}" for r in catalogue]
    return "\n".join(lines) + "\n"


def _page(rule: Rule) -> str:
    head = [f"{rule.id} {rule.name}: {rule.title}",
            f"severity: {rule.severity.label}   layer: {rule.layer}   profiles: {', '.join(_profiles(rule))}"]
    head += [f"source: {source}" for source in rule.sources]
    return "\n".join(head) + "\n\n" + rule.document().strip() + "\n"
