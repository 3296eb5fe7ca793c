"""Any input ends in findings or a clean error, never a traceback (property-based)."""
from __future__ import annotations

import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sm_lint.catalogue import Catalogue
from sm_lint.config import Settings
from sm_lint.dockerfile.lint import lint_text
from sm_lint.findings import Finding

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load()
SEEDS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "fixtures").rglob("*Dockerfile*")) if p.is_file()]
SEEDS += [ex.text for rule in CATALOGUE for ex in rule.examples() if ex.language == "dockerfile"]
TOKENS = ["FROM ", "RUN ", "COPY ", "ADD ", "ENTRYPOINT ", "CMD ", "ENV ", "ARG ", "WORKDIR ", "SHELL ",
          "ONBUILD ", "HEALTHCHECK ", "VOLUME ", "<<EOF", "<<-'X'", "EOF", "\\\n", "`\n", "# escape=`\n",
          "# sm-lint: ignore=", "SM101", "[", "]", '"', "'", ",", "${A:-/opt/ml}", "$B", "/opt/ml/",
          "--from=0 ", "--mount=type=cache,target=/opt/ml ", " AS ", "\n", "\r\n", "\t", " ", "&&", "|", ";",
          "exec ", "sh -c ", "nvidia-driver-535", "\ufeff", "\x00", "é", "{", "}", "$(", ")"]


def _lint(text: str) -> list:
    findings = lint_text(text, "Dockerfile", Settings(gpu="auto"), CATALOGUE, None, datetime.date(2026, 1, 1))
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.location.line >= 1, finding
        assert finding.rule in CATALOGUE
    return findings


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=8), max_size=60).map("".join))
def test_token_soup_never_raises(text: str) -> None:
    _lint(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 40),
                                                   st.sampled_from(TOKENS) | st.text(max_size=5)), max_size=6))
def test_mutated_real_files_never_raise(seed: str, edits: list) -> None:
    text = seed
    for position, length, insert in edits:
        cut = position % (len(text) + 1)
        text = text[:cut] + insert + text[cut + length % 5:]
    _lint(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    _lint(text)
