"""Differential test: our parser against BuildKit's own (v0.12.5, via the `dockerfile` package).

The PyPI package `dockerfile` embeds moby/buildkit v0.12.5's `parser.Parse` (Go, through cgo).
Every fixture Dockerfile, every hand-written edge case under fixtures/parser/, and a seeded
random corpus from tests/dockerfile_gen.py must get the same verdict from both: the same
accept/reject decision with the same error message (GoParseError carries no line number, so
lines of errors cannot be compared), and for accepted files the same instructions, field by
field. Any difference is a bug in our parser.

What the package does to BuildKit's AST, and how this test undoes it:
- `cmd` keeps the source spelling; our `keyword` is upper case (the dispatch name for known
  instructions). Empty strings come back as None.
- For ONBUILD the package reports the *inner* instruction's json/value/heredocs (`sub_cmd`),
  but the outer node's flags, lines and original text.
- `original` gets "\\n" + content + name + "\\n" appended per heredoc; our `original` is
  BuildKit's Node.Original, so the suffix is rebuilt here.
- Heredoc content is raw in BuildKit's parser; ours has `<<-` tab chomping applied (BuildKit
  applies it one layer later), so Go's content is chomped here before comparing.
- Strings cross into Python as C strings: they stop at NUL, and invalid UTF-8 (which BuildKit
  produces when it cuts a HEALTHCHECK type word inside a multi-byte character) makes the
  package raise UnicodeDecodeError; we then require our output to hold the same lone bytes.
- A file descriptor too large for a C long comes back negative.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pytest

from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.syntax import DockerfileSyntaxError, Instruction, ParsedDockerfile

import dockerfile_gen

try:
    import dockerfile  # the PyPI package with BuildKit's Go parser inside
except ImportError as exc:  # e.g. Linux aarch64 without a wheel
    pytest.skip("the `dockerfile` package (BuildKit's parser) is not importable: %s" % exc, allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 100
CHUNKS = 20  # 2,000 generated Dockerfiles
KNOWN = frozenset(
    "add arg cmd copy entrypoint env expose from healthcheck label maintainer onbuild run shell "
    "stopsignal user volume workdir".split()
)
_TABS = re.compile(r"^\t+", re.M)
_LONE_BYTE = re.compile("[\udc80-\udcff]")


# Both corpus tests walk the same texts; generating them is the slow part.
generate = functools.lru_cache(maxsize=None)(dockerfile_gen.generate)


def _is_dockerfile(path: Path) -> bool:
    name = path.name
    return (
        name == "Dockerfile"
        or name.endswith(".Dockerfile")
        or name.startswith("Dockerfile.")
        or name.endswith(".dockerfile")
    )


def fixture_paths() -> List[Path]:
    return sorted(p for p in (ROOT / "fixtures").rglob("*") if p.is_file() and _is_dockerfile(p))


def _c(text: str) -> str:
    """What survives the trip through a C string."""
    return text.split("\x00", 1)[0]


def _keyword(cmd: Optional[str]) -> str:
    cmd = cmd or ""
    low = cmd.replace("\u0130", "i").lower()  # Go's strings.ToLower maps U+0130 to "i"
    return low.upper() if low in KNOWN else cmd.upper()


def _fd(value: int) -> int:
    return value % 2**64


def _chomp(text: str) -> str:
    return _TABS.sub("", text)


def _has_lone_bytes(result: ParsedDockerfile) -> bool:
    for ins in result.instructions:
        for node in (ins, ins.sub):
            if node is not None and any(_LONE_BYTE.search(s) for s in node.value + node.flags + (node.original,)):
                return True
    return False


def _compare_instruction(ours: Instruction, go: Any) -> List[str]:
    diffs: List[str] = []
    inner = ours.sub if ours.keyword == "ONBUILD" and ours.sub is not None else ours
    docs = ours.heredocs if inner is ours else ()

    def check(field: str, mine: object, theirs: object) -> None:
        if mine != theirs:
            diffs.append("line %d %s: ours %r, BuildKit %r" % (ours.start_line, field, mine, theirs))

    check("keyword", _c(ours.keyword), _keyword(go.cmd))
    check("sub_cmd", _c(inner.keyword) if inner is not ours else None, _keyword(go.sub_cmd) if go.sub_cmd else None)
    check("json", inner.json, go.json)
    check("start_line", ours.start_line, go.start_line)
    check("end_line", ours.end_line, go.end_line)
    check("flags", tuple(_c(f) for f in ours.flags), tuple(go.flags))
    check("value", tuple(_c(v) for v in inner.value), tuple(go.value))
    check("heredoc count", len(docs), len(go.heredocs))
    chomped = any(doc.chomp for doc in docs)
    for doc, go_doc in zip(docs, go.heredocs):
        check("heredoc name", _c(doc.name), go_doc.name)
        check("heredoc fd", doc.file_descriptor, _fd(go_doc.file_descriptor))
        check("heredoc content", _c(doc.content), _chomp(go_doc.content) if doc.chomp else go_doc.content)
    original = ours.original + "".join("\n" + doc.content + doc.name for doc in docs) + ("\n" if docs else "")
    go_original = go.original or ""
    if chomped:  # compare the heredoc part modulo leading tabs
        head, sep, tail = original.partition("\n")
        original = head + sep + _chomp(tail)
        head, sep, tail = go_original.partition("\n")
        go_original = head + sep + _chomp(tail)
    check("original", _c(original), go_original)
    return diffs


def differences(text: str, go_result: Any, go_error: Optional[str]) -> List[str]:
    """Everything on which our parse of `text` disagrees with BuildKit's."""
    try:
        ours = parse(text)
    except DockerfileSyntaxError as exc:
        if go_error is None:
            return ["we reject (%s, line %d) but BuildKit accepts" % (exc.message, exc.line)]
        if _c(exc.message) != go_error:
            return ["error message: ours %r, BuildKit %r" % (exc.message, go_error)]
        return []
    if go_error is not None:
        return ["BuildKit rejects (%s) but we accept" % go_error]
    if go_result is UnicodeDecodeError:
        return [] if _has_lone_bytes(ours) else ["BuildKit produced invalid UTF-8, we did not"]
    if len(ours.instructions) != len(go_result):
        return ["%d instructions, BuildKit %d" % (len(ours.instructions), len(go_result))]
    diffs: List[str] = []
    for mine, theirs in zip(ours.instructions, go_result):
        diffs.extend(_compare_instruction(mine, theirs))
    return diffs


def buildkit(parse_go: Any, arg: Any) -> tuple:
    """(result, error message) from BuildKit; result is UnicodeDecodeError for invalid UTF-8."""
    try:
        return parse_go(arg), None
    except dockerfile.GoParseError as exc:
        return None, str(exc)
    except UnicodeDecodeError:
        return UnicodeDecodeError, None


def _report(cases: Sequence[tuple]) -> None:
    failures = []
    for label, text, go_result, go_error in cases:
        diffs = differences(text, go_result, go_error)
        if diffs:
            failures.append("%s %r:\n  %s" % (label, text[:300], "\n  ".join(diffs[:5])))
    assert not failures, "%d disagreement(s) with BuildKit:\n%s" % (len(failures), "\n".join(failures[:10]))


# --- fixtures -------------------------------------------------------------------------------


def test_fixtures_exist() -> None:
    names = {p.name for p in fixture_paths()}
    assert "heredocs.Dockerfile" in names and "escape_backtick_windows.Dockerfile" in names


@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: str(p.relative_to(ROOT)))
def test_fixture_matches_buildkit(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    go_result, go_error = buildkit(dockerfile.parse_file, str(path))
    _report([(str(path.relative_to(ROOT)), text, go_result, go_error)])


# --- generated corpus -----------------------------------------------------------------------


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_generated_matches_buildkit(chunk: int) -> None:
    cases = []
    for seed in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        text = generate(seed)
        go_result, go_error = buildkit(dockerfile.parse_string, text)
        cases.append(("seed %d" % seed, text, go_result, go_error))
    _report(cases)


def test_generated_corpus_exercises_the_parser() -> None:
    """Guard against a generator that drifted into trivia: the corpus must hit every area."""
    seen = {"accepted": 0, "rejected": 0, "heredoc": 0, "chomp": 0, "fd": 0, "exec": 0, "onbuild": 0,
            "flags": 0, "continuation": 0, "backtick": 0, "unterminated": 0, "non-string": 0}
    for seed in range(CHUNK * CHUNKS):
        try:
            result = parse(generate(seed))
        except DockerfileSyntaxError as exc:
            seen["rejected"] += 1
            seen["unterminated"] += exc.message == "unterminated heredoc"
            seen["non-string"] += exc.message.startswith("when using JSON")
            continue
        seen["accepted"] += 1
        seen["backtick"] += result.directives.escape == "`"
        for ins in result.instructions:
            seen["heredoc"] += bool(ins.heredocs)
            seen["chomp"] += any(doc.chomp for doc in ins.heredocs)
            seen["fd"] += any(doc.file_descriptor for doc in ins.heredocs)
            seen["exec"] += ins.json
            seen["onbuild"] += ins.sub is not None
            seen["flags"] += bool(ins.flags)
            seen["continuation"] += ins.end_line > ins.start_line and not ins.heredocs
    thin = [name for name, count in seen.items() if count < 20]
    assert not thin, seen


def test_generator_is_deterministic() -> None:
    assert generate(7) == generate(7)
    assert generate(7) != generate(8)
