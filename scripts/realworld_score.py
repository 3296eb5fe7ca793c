#!/usr/bin/env python3
"""Score `sm-lint check` against the hand-labelled real-world corpus.

corpus/realworld/labels.toml holds one [[file]] table per Dockerfile:

    [[file]]
    file = "aws__sagemaker-xgboost-container/docker__1.7-1-1__final__Dockerfile.cpu"  # corpus path
    source = "aws/sagemaker-xgboost-container"      # GitHub owner/repo it came from
    commit = "<40 hex>"                              # commit it was read at
    path = "docker/1.7-1-1/final/Dockerfile.cpu"    # path in that repository
    license = "Apache-2.0"                           # when known
    build_args = { NAME = "value" }                  # optional: --build-arg for a meaningful build
    target = "sagemaker"                             # optional: --target
    context = "aws__deep-learning-containers/pytorch-cuda"  # optional: --context (corpus path)
    expect = ["SM114", "SM104"]                      # rules that must fire; every other scored rule must not
    note = "why"                                     # the judgement, for positives and tricky negatives
    profiles = { training = [], inference = ["SM106"] }  # optional: the file checked again under
                                                     # these profiles, scoring PROFILE_RULES only
    profile_note = "why"                             # the judgement for the profile labels

The labels were decided by reading each file against rules/SMxxx.md, not by running the tool.
This script runs sm-lint (one batch per distinct build_args/target/context), compares, prints
TP/FP/FN, precision and recall per rule and every disagreement, and exits 1 when a rule with
data falls below --min.

A finding counts as the rule firing unless it is a hedged one: an `info` finding of a rule whose
nominal severity is error or warning (for example SM121 downgraded to "unknown base image, check
the built image"). Hedged findings are listed separately and never count as a verdict.

Standard library only (plus tomli on Python < 3.11).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

try:  # Python >= 3.11
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "realworld"
LABELS = CORPUS / "labels.toml"

# The Dockerfile-layer rules this corpus scores, with their nominal severities (rules/SMxxx.md).
RULES: Dict[str, str] = {
    "SM101": "error",
    "SM102": "warning",
    "SM103": "error",
    "SM104": "warning",
    "SM105": "warning",
    "SM110": "error",
    "SM111": "warning",
    "SM112": "error",
    "SM113": "error",
    "SM114": "info",
    "SM120": "error",
    "SM121": "error",
}
# Rules of the training/hosting contracts, scored on the files labelled under those profiles (the
# files that are clearly training or inference images), each in a run with `--profile NAME`.
PROFILE_RULES: Dict[str, str] = {
    "SM106": "warning",
}
PROFILES = ("training", "inference", "batch-transform")
REQUIRED_KEYS = ("file", "source", "commit", "path")


@dataclass
class Entry:
    file: str
    source: str
    commit: str
    path: str
    expect: Tuple[str, ...] = ()
    build_args: Tuple[Tuple[str, str], ...] = ()
    target: Optional[str] = None
    context: Optional[str] = None
    note: str = ""
    license: Optional[str] = None
    profiles: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (profile, expected PROFILE_RULES)
    profile_note: str = ""

    def group_key(self, profile: str = "") -> Tuple:
        return (self.build_args, self.target, self.context, profile)


@dataclass
class Finding:
    rule: str
    severity: str
    message: str
    line: int

    @property
    def hedged(self) -> bool:
        return self.severity == "info" and RULES.get(self.rule, "info") != "info"


@dataclass
class Disagreement:
    file: str
    rule: str
    expected: bool
    got: bool
    message: str
    note: str


@dataclass
class RuleScore:
    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def precision(self) -> Optional[float]:
        return None if self.tp + self.fp == 0 else self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> Optional[float]:
        return None if self.positives == 0 else self.tp / self.positives


@dataclass
class Result:
    entries: List[Entry]
    scores: Dict[str, RuleScore]
    disagreements: List[Disagreement]
    hedged: List[Tuple[str, Finding]]
    errors: List[str] = field(default_factory=list)  # files sm-lint could not check

    def failing(self, minimum: float) -> List[str]:
        bad = []
        for rule, s in self.scores.items():
            if s.precision is not None and s.precision < minimum:
                bad.append(f"{rule} precision {s.precision:.3f} < {minimum}")
            if s.recall is not None and s.recall < minimum:
                bad.append(f"{rule} recall {s.recall:.3f} < {minimum}")
        bad.extend(f"not checked: {e}" for e in self.errors)
        return bad


class LabelError(ValueError):
    pass


def load_labels(labels: Path = LABELS, corpus: Path = CORPUS) -> List[Entry]:
    """Read and validate labels.toml; raise LabelError on any malformed entry."""
    with open(labels, "rb") as fh:
        data = tomllib.load(fh)
    raw = data.get("file")
    if not isinstance(raw, list) or not raw:
        raise LabelError(f"{labels}: no [[file]] tables")
    entries: List[Entry] = []
    seen = set()
    problems = []
    for i, item in enumerate(raw):
        where = f"{labels}: [[file]] #{i + 1} ({item.get('file', '?')})"
        missing = [k for k in REQUIRED_KEYS if not item.get(k)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        commit = str(item["commit"])
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            problems.append(f"{where}: commit is not 40 lowercase hex digits")
        if "/" not in str(item["source"]):
            problems.append(f"{where}: source is not owner/repo")
        expect = tuple(item.get("expect", []))
        unknown = [r for r in expect if r not in RULES]
        if unknown:
            problems.append(f"{where}: unknown rules in expect: {unknown}")
        if expect and not str(item.get("note", "")).strip():
            problems.append(f"{where}: positives need a note")
        raw_profiles = item.get("profiles", {})
        if not isinstance(raw_profiles, dict) or any(p not in PROFILES for p in raw_profiles):
            problems.append(f"{where}: profiles must be a table of {', '.join(PROFILES)} = [rules]")
            raw_profiles = {}
        for name, rules in raw_profiles.items():
            if not isinstance(rules, list) or any(r not in PROFILE_RULES for r in rules):
                problems.append(f"{where}: profiles.{name} must list rules of {sorted(PROFILE_RULES)}")
        if raw_profiles and not str(item.get("profile_note", "")).strip():
            problems.append(f"{where}: profile labels need a profile_note")
        if item["file"] in seen:
            problems.append(f"{where}: duplicate entry")
        seen.add(item["file"])
        if not (corpus / item["file"]).is_file():
            problems.append(f"{where}: file does not exist")
        context = item.get("context")
        if context is not None and not (corpus / context).is_dir():
            problems.append(f"{where}: context folder does not exist")
        build_args = tuple(sorted((str(k), str(v)) for k, v in item.get("build_args", {}).items()))
        entries.append(
            Entry(
                file=item["file"],
                source=item["source"],
                commit=commit,
                path=item["path"],
                expect=expect,
                build_args=build_args,
                target=item.get("target"),
                context=context,
                note=str(item.get("note", "")).strip(),
                license=item.get("license"),
                profiles=tuple((str(k), tuple(v)) for k, v in raw_profiles.items() if isinstance(v, list)),
                profile_note=str(item.get("profile_note", "")).strip(),
            )
        )
    if problems:
        raise LabelError("\n".join(problems))
    return entries


def default_command() -> List[str]:
    """How to run sm-lint: $SM_LINT (split on spaces) or this checkout's module."""
    env = os.environ.get("SM_LINT")
    if env:
        return env.split()
    return [sys.executable, "-m", "sm_lint"]


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("NO_COLOR", "1")
    return env


def _run_batch(cmd: Sequence[str], entries: Sequence[Entry], corpus: Path,
               profile: str = "") -> Tuple[Dict[str, List[Finding]], List[str]]:
    """Run one `sm-lint check --format json` over entries sharing build args/target/context
    (and `--profile`, for the profile labels)."""
    first = entries[0]
    argv = list(cmd) + ["check", "--format", "json", "--fail-on", "never"]
    if profile:
        argv += ["--profile", profile]
    for name, value in first.build_args:
        argv += ["--build-arg", f"{name}={value}"]
    if first.target:
        argv += ["--target", first.target]
    if first.context:
        argv += ["--context", str(corpus / first.context)]
    paths = {str((corpus / e.file).resolve()): e.file for e in entries}
    argv += list(paths)
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=str(ROOT))
    if proc.returncode not in (0, 1):
        if len(entries) > 1:  # isolate the file that broke the batch
            found: Dict[str, List[Finding]] = {}
            errors: List[str] = []
            for e in entries:
                f, err = _run_batch(cmd, [e], corpus, profile)
                found.update(f)
                errors.extend(err)
            return found, errors
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return {}, [f"{first.file}: sm-lint exit {proc.returncode}: {msg[-1] if msg else ''}"]
    report = json.loads(proc.stdout)
    found = {e.file: [] for e in entries}
    for item in report.get("findings", []):
        key = paths.get(str(Path(item.get("path", "")).resolve()))
        if key is None:
            continue
        found[key].append(
            Finding(item["rule"], item.get("severity", ""), item.get("message", ""), int(item.get("line") or 0))
        )
    return found, []


def score(labels: Path = LABELS, corpus: Path = CORPUS, cmd: Optional[Sequence[str]] = None) -> Result:
    """Run sm-lint over every labelled file and compare with the labels."""
    entries = load_labels(labels, corpus)
    cmd = list(cmd or default_command())
    groups: Dict[Tuple, List[Entry]] = {}
    for e in entries:
        groups.setdefault(e.group_key(), []).append(e)
    found: Dict[str, List[Finding]] = {}
    errors: List[str] = []
    for group in groups.values():
        f, err = _run_batch(cmd, group, corpus)
        found.update(f)
        errors.extend(err)
    profile_groups: Dict[Tuple, List[Entry]] = {}
    for e in entries:
        for name, _ in e.profiles:
            profile_groups.setdefault(e.group_key(name), []).append(e)
    found_under: Dict[Tuple[str, str], List[Finding]] = {}
    for key, group in profile_groups.items():
        f, err = _run_batch(cmd, group, corpus, key[-1])
        found_under.update(((key[-1], file), items) for file, items in f.items())
        errors.extend(f"{message} (--profile {key[-1]})" for message in err)
    scores = {rule: RuleScore(rule) for rule in list(RULES) + list(PROFILE_RULES)}
    disagreements: List[Disagreement] = []
    hedged: List[Tuple[str, Finding]] = []
    for e in entries:
        if e.file not in found:
            continue
        findings = found[e.file]
        hedged.extend((e.file, f) for f in findings if f.rule in RULES and f.hedged)
        fired = {f.rule for f in findings if f.rule in RULES and not f.hedged}
        for rule in RULES:
            s = scores[rule]
            exp, got = rule in e.expect, rule in fired
            if exp and got:
                s.tp += 1
            elif exp:
                s.fn += 1
            elif got:
                s.fp += 1
            else:
                s.tn += 1
            if exp != got:
                msgs = [f"line {f.line}: {f.message}" for f in findings if f.rule == rule]
                disagreements.append(Disagreement(e.file, rule, exp, got, " | ".join(msgs), e.note))
        for profile, expected in e.profiles:
            if (profile, e.file) not in found_under:
                continue
            under = found_under[(profile, e.file)]
            fired = {f.rule for f in under if f.rule in PROFILE_RULES}
            for rule in PROFILE_RULES:
                s = scores[rule]
                exp, got = rule in expected, rule in fired
                s.tp, s.fn, s.fp, s.tn = (s.tp + (exp and got), s.fn + (exp and not got),
                                          s.fp + (got and not exp), s.tn + (not exp and not got))
                if exp != got:
                    msgs = [f"line {f.line}: {f.message}" for f in under if f.rule == rule]
                    disagreements.append(Disagreement(f"{e.file} (--profile {profile})", rule, exp, got,
                                                      " | ".join(msgs), e.profile_note))
    return Result(entries, scores, disagreements, hedged, errors)


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def table(result: Result, markdown: bool = False) -> str:
    rows = []
    for rule, s in result.scores.items():
        recall = "no positives" if s.positives == 0 else _fmt(s.recall)
        rows.append((rule, str(s.positives), str(s.tp), str(s.fp), str(s.fn), _fmt(s.precision), recall))
    head = ("rule", "positives", "TP", "FP", "FN", "precision", "recall")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min", type=float, default=0.98, help="minimum precision and recall per rule (default 0.98)")
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--sm-lint", help="command that runs sm-lint (default: this checkout, python -m sm_lint)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)
    try:
        result = score(args.labels, args.corpus, args.sm_lint.split() if args.sm_lint else None)
    except LabelError as exc:
        print(f"labels: {exc}", file=sys.stderr)
        return 2
    n_files = len(result.entries)
    n_repos = len({e.source for e in result.entries})
    print(f"{n_files} labelled Dockerfiles from {n_repos} repositories")
    print(table(result, args.markdown))
    if result.disagreements:
        print(f"\n{len(result.disagreements)} disagreements:")
        for d in result.disagreements:
            kind = "FN (expected, not reported)" if d.expected else "FP (reported, not expected)"
            print(f"- {d.file}: {d.rule} {kind}")
            if d.message:
                print(f"    got: {d.message}")
            if d.note:
                print(f"    label note: {d.note}")
    if result.hedged:
        print(f"\n{len(result.hedged)} hedged (info) findings, not counted:")
        for f, h in result.hedged:
            print(f"- {f}: {h.rule} line {h.line}: {h.message}")
    for e in result.errors:
        print(f"\nerror: {e}", file=sys.stderr)
    failing = result.failing(args.min)
    if failing:
        print(f"\nbelow --min {args.min}: " + "; ".join(failing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
