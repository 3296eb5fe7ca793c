"""The hand-labelled real-world corpus (corpus/realworld): labels are complete and sm-lint meets them.

Each Dockerfile-layer rule must reach precision and recall >= 0.98 on the labelled files, as issue 9
asks. A rule with no positive in the corpus has no recall to check; it still fails on any false
positive (precision 0).
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MINIMUM = 0.98


def _load_scorer():
    spec = importlib.util.spec_from_file_location("realworld_score", ROOT / "scripts" / "realworld_score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["realworld_score"] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


scorer = _load_scorer()


@pytest.fixture(scope="module")
def result():
    return scorer.score(cmd=[sys.executable, "-m", "sm_lint"])


def test_every_label_names_its_source_and_the_file_exists():
    entries = scorer.load_labels()  # raises LabelError on a missing key, bad commit or missing file
    assert len(entries) >= 90
    for e in entries:
        assert e.source and "/" in e.source, e.file
        assert re.fullmatch(r"[0-9a-f]{40}", e.commit), e.file
        assert e.path, e.file
        assert (scorer.CORPUS / e.file).is_file(), e.file
        for rule in e.expect:
            assert rule in scorer.RULES, (e.file, rule)
        if e.expect:
            assert e.note, f"{e.file}: a positive label needs a note"


def test_sm_lint_checked_every_file(result):
    assert result.errors == []


@pytest.mark.parametrize("rule", sorted(scorer.RULES) + sorted(scorer.PROFILE_RULES))
def test_precision_and_recall(result, rule):
    s = result.scores[rule]
    wrong = [f"{d.file} ({'FN' if d.expected else 'FP'}: {d.message or 'not reported'})"
             for d in result.disagreements if d.rule == rule]
    if s.precision is not None:
        assert s.precision >= MINIMUM, f"{rule} precision {s.precision:.3f}: {wrong}"
    if s.recall is not None:
        assert s.recall >= MINIMUM, f"{rule} recall {s.recall:.3f}: {wrong}"
