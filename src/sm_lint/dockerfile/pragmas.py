"""Inline suppressions: `# sm-lint: ignore=SM101,SM110` above an instruction, `# sm-lint: ignore-file=SM120`.

Malformed pragmas and unknown ids are findings (SM190), never silently dropped; a pragma that
suppresses nothing is reported too (SM191), so stale suppressions do not pile up.
"""
from __future__ import annotations

import re
from typing import Collection, Dict, List, NamedTuple, Optional, Set, Tuple

from sm_lint.dockerfile.syntax import ParsedDockerfile

# Compiled on first use, through re's cache (~1 ms at import, and most files have no pragma): a
# line reaches them only when it holds "nt" in any case (under re.I, `n` and `t` match only
# n/N and t/T, while `i` and `s` also match other letters: ı, İ, ſ).
_MENTION = r"^\s*#\s*sm-?lint\b"
_PRAGMA = (
    r"^\s*#\s*sm-lint:\s*(?P<kind>ignore|ignore-file)=(?P<ids>[A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)"
    r"\s*(?:(?:--|#)\s*(?P<reason>.*))?$"
)


class Pragma(NamedTuple):
    line: int
    kind: str  # "ignore" or "ignore-file"
    rules: Tuple[str, ...]
    start: int  # the instruction lines it covers (ignore-file: the whole file)
    end: int


class Pragmas(NamedTuple):
    pragmas: Tuple[Pragma, ...]
    problems: Tuple[Tuple[int, str], ...]  # (line, message) for SM190


def collect(parsed: ParsedDockerfile, known: Collection[str]) -> Pragmas:
    """Find pragma comments: comment lines outside every instruction (so not inside heredoc bodies)."""
    covered = _instruction_lines(parsed)
    starts = sorted(ins.start_line for ins in parsed.instructions)
    by_start = {ins.start_line: ins.end_line for ins in parsed.instructions}
    pragmas: List[Pragma] = []
    problems: List[Tuple[int, str]] = []
    for index, text in enumerate(parsed.lines):
        line = index + 1
        if line in covered or "nt" not in text.lower() or not re.match(_MENTION, text, re.I):
            continue
        match = re.match(_PRAGMA, text)
        if match is None:
            problems.append((line, f"malformed sm-lint pragma {text.strip()!r}: write "
                                   "`# sm-lint: ignore=SM101[,SM110]` or `# sm-lint: ignore-file=SM120`"))
            continue
        ids = tuple(part.strip().upper() for part in match.group("ids").split(","))
        unknown = [rule for rule in ids if rule not in known]
        if unknown:
            problems.append((line, f"sm-lint pragma names unknown rule {', '.join(unknown)}"))
        ids = tuple(rule for rule in ids if rule in known)
        if match.group("kind") == "ignore-file":
            pragmas.append(Pragma(line, "ignore-file", ids, 1, len(parsed.lines) + 1))
            continue
        following = _next_instruction(starts, line)
        if following is None:
            problems.append((line, "sm-lint ignore pragma is not followed by an instruction"))
            continue
        pragmas.append(Pragma(line, "ignore", ids, following, by_start[following]))
    return Pragmas(tuple(pragmas), tuple(problems))


def _instruction_lines(parsed: ParsedDockerfile) -> Set[int]:
    lines: Set[int] = set()
    for ins in parsed.instructions:
        lines.update(range(ins.start_line, ins.end_line + 1))
    return lines


def _next_instruction(starts: List[int], line: int) -> Optional[int]:
    for start in starts:
        if start > line:
            return start
    return None


def suppressing(pragmas: Tuple[Pragma, ...], rule: str, line: int) -> Optional[Pragma]:
    for pragma in pragmas:
        if rule in pragma.rules and pragma.start <= line <= pragma.end:
            return pragma
    return None


def unused(pragmas: Tuple[Pragma, ...], used: Dict[Tuple[int, str], bool]) -> List[Tuple[int, str]]:
    return [(p.line, rule) for p in pragmas for rule in p.rules if not used.get((p.line, rule))]
