"""`--baseline FILE`: accept the findings recorded in an earlier JSON report, so that a gate
adopted on an existing image fails only on new problems.

A finding matches a recorded one by rule, message and, for Dockerfile findings, the file's path
(relative to the working folder, however it was spelt: `./Dockerfile`, `Dockerfile` and its absolute
path are one file, so a baseline made on a laptop matches in a CI checkout elsewhere): not by line
(lines move when the file is edited above the problem), and not by image reference for image and
runtime findings (each CI build tags its image anew). Each recorded finding accepts
one current finding, so a second copy of a known problem is new.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from sm_lint.errors import UsageError
from sm_lint.findings import Finding

Key = Tuple[str, str, str]


def load(path: Path, layers: Dict[str, str]) -> "Counter[Key]":
    """The keys of the findings of an earlier `--format json` report (version 1)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read the baseline: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: the baseline is not a JSON report of sm-lint: {error}") from None
    if not isinstance(document, dict) or document.get("version") != 1 or not isinstance(document.get("findings"), list):
        raise UsageError(f"{path}: the baseline is not a JSON report of sm-lint (version 1, with findings)")
    keys: "Counter[Key]" = Counter()
    for item in document["findings"]:
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("rule", "message", "path")):
            raise UsageError(f"{path}: a baseline finding lacks rule, message or path: {str(item)[:80]}")
        keys[_key(item["rule"], item["path"], item["message"], layers)] += 1
    return keys


def split(findings: List[Finding], accepted: "Counter[Key]", layers: Dict[str, str]) -> Tuple[List[Finding], List[Finding]]:
    """(new findings, findings the baseline accepts)."""
    left = Counter(accepted)
    new, known = [], []
    for finding in findings:
        key = _key(finding.rule, finding.location.path, finding.message, layers)
        if left[key] > 0:
            left[key] -= 1
            known.append(finding)
        else:
            new.append(finding)
    return new, known


def _key(rule: str, path: str, message: str, layers: Dict[str, str]) -> Key:
    return (rule, _same_file(path) if layers.get(rule) == "dockerfile" else "", message)


def _same_file(path: str) -> str:
    from sm_lint.report import relative_path

    return relative_path(os.path.abspath(path)) if path and path != "-" else path
