"""`sm-lint check --fix` and `--diff`: safe rewrites of SM101, SM102 and SM103 findings.

The BuildKit-faithful parser (dockerfile/parser.py) decides what to change: which instruction, on
which source lines, and the argv the new exec form must hold. dockerfile-parse is the writer: its
`structure` must see the same start and end lines for the instruction (otherwise the fix is skipped
and reported), and its `lines` setter writes the file. Its `add_lines_at` is not used: it rewrites
the inserted line's ending to "\\n" (a CRLF file would get one LF line) and it names files by folder
(docs/architecture.md). Imported only here, so a plain `check` never loads it.

A fix keeps the instruction's lines: each source line of a shell-form command keeps its leading
and trailing whitespace and its continuation escape, and its words become JSON strings, so
comments and blank lines inside a continuation, the escape directive, the keyword's spelling and
every line ending stay byte for byte. The result is parsed again and must hold exactly the
intended argv with every other instruction unchanged, or nothing is written.
"""
from __future__ import annotations

import difflib
import io
import json
import re
import shlex
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint.dockerfile.lex import GO_SPACE
from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.syntax import DockerfileSyntaxError, Instruction, ParsedDockerfile
from sm_lint.findings import Finding

if TYPE_CHECKING:
    from sm_lint.catalogue import Catalogue
    from sm_lint.check import CheckOptions

RULES = ("SM101", "SM102", "SM103")
_KEYWORDS = {"SM101": ("ENTRYPOINT",), "SM102": ("CMD",), "SM103": ("ENTRYPOINT", "CMD", "RUN", "SHELL")}
# Shells whose `-c TEXT` splits a simple command into words the way POSIX sh does.
_SH = frozenset(("sh", "bash", "dash", "ash", "ksh", "mksh", "busybox"))
# Outside quotes these make the shell do something other than split words.
_UNQUOTED_SPECIAL = {
    "$": "variable or command expansion", "`": "command substitution",
    "*": "a glob", "?": "a glob", "[": "a glob", "]": "a glob",
    "<": "a redirection", ">": "a redirection", "|": "a pipe or `||`", "&": "`&&` or `&`", ";": "`;`",
    "(": "a subshell", ")": "a subshell", "{": "a brace group or expansion", "}": "a brace group or expansion",
    "~": "tilde expansion", "#": "a comment", "!": "`!`", "\n": "a newline", "\r": "a carriage return",
    "\v": "a vertical tab", "\f": "a form feed",
}
_IN_DOUBLE_QUOTES_SPECIAL = {"$": "variable or command expansion", "`": "command substitution",
                             "\n": "a newline", "\r": "a carriage return"}
# Words that are shell syntax or builtins: as argv[0] of an exec form they would not run the same.
_NOT_PROGRAMS = frozenset(
    "! { } if then else elif fi case esac for while until do done in function select time "
    ". : source alias bg break builtin cd command continue declare eval exec exit export fg getopts "
    "hash jobs let local read readonly return set shift shopt times trap type typeset ulimit umask "
    "unalias unset wait".split())
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class Refused(Exception):
    """This finding cannot be fixed safely; the message says why."""


class Outcome(NamedTuple):
    path: str
    old: str
    new: str
    fixed: Tuple[str, ...]  # "LINE: RULE what was done"
    skipped: Tuple[str, ...]  # "LINE: RULE not fixed: why"

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"a/{self.path}", tofile=f"b/{self.path}"))


def sh_words(text: str) -> List[str]:
    """The argv /bin/sh makes of `text`, when it is a simple command that needs no shell at run time.

    Everything shlex (POSIX mode) handles differently from sh is refused first: expansions, globs,
    operators, comments, control characters; what remains is words, quotes and backslashes, which
    both resolve alike."""
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            if char == "'":
                quote = ""
            elif char in "\n\r":
                raise Refused(f"the command contains {_UNQUOTED_SPECIAL[char]}")
        elif quote == '"':
            if char == "\\":
                i += 1
                if i < len(text) and text[i] in _IN_DOUBLE_QUOTES_SPECIAL:
                    raise Refused(f"the command contains {_IN_DOUBLE_QUOTES_SPECIAL[text[i]]}")
            elif char == '"':
                quote = ""
            elif char in _IN_DOUBLE_QUOTES_SPECIAL:
                raise Refused(f"the command contains {_IN_DOUBLE_QUOTES_SPECIAL[char]}")
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 1
            if i >= len(text):
                raise Refused("the command ends in a backslash")
            if text[i] in "\n\r\v\f":
                raise Refused(f"the command contains {_UNQUOTED_SPECIAL[text[i]]}")
        elif char in _UNQUOTED_SPECIAL:
            raise Refused(f"the command contains {_UNQUOTED_SPECIAL[char]} (`{char.strip() or repr(char)}`), "
                          "which needs a shell at run time")
        i += 1
    if quote:
        raise Refused("the command has an unterminated quote")
    try:
        return shlex.split(text, posix=True)
    except ValueError as error:  # pragma: no cover - the scan above leaves shlex nothing to reject
        raise Refused(f"the command does not split into words: {error}") from None


def exec_argv(words: Sequence[str]) -> List[str]:
    """The exec-form argv for a shell-form command's words: a leading `exec` dropped, and refused
    where the first word is an assignment, shell syntax or a builtin."""
    argv = list(words)
    if argv[:1] == ["exec"]:
        argv = argv[1:]
        if argv and argv[0].startswith("-"):
            raise Refused(f"`exec {argv[0]}` passes options to the shell's exec")
    if not argv:
        raise Refused("there is no command")
    if _ASSIGNMENT.match(argv[0]):
        raise Refused(f"the command starts with the variable assignment `{argv[0]}`")
    if argv[0] in _NOT_PROGRAMS:
        raise Refused(f"`{argv[0]}` is shell syntax or a shell builtin, not a program")
    return argv


def json_items(text: str) -> List[str]:
    """The items of a JSON-looking array that is not JSON (single quotes, a trailing comma): a `[`,
    quoted strings separated by commas, at most one trailing comma, `]`, nothing after."""
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        raise Refused("the argument does not start with `[`")
    pos = _skip(text, pos + 1)
    items: List[str] = []
    while not text.startswith("]", pos):
        if pos >= len(text):
            raise Refused("the array is not closed")
        if text[pos] == '"':
            match = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"').match(text, pos)
            if match is None:
                raise Refused("a double-quoted item is not a JSON string")
            items.append(json.loads(match.group()))
        elif text[pos] == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                raise Refused("a single-quoted item is not closed")
            item = text[pos + 1:end]
            if "\\" in item or '"' in item:
                raise Refused("a single-quoted item holds a backslash or a double quote, whose meaning is unclear")
            items.append(item)
            match = None
            pos = end + 1
        else:
            raise Refused(f"`{text[pos]}` where an item or `]` should be")
        if match is not None:
            pos = match.end()
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif not text.startswith("]", pos):
            raise Refused("items are not separated by commas")
    if _skip(text, pos + 1) != len(text):
        raise Refused("text follows the closing `]`")
    return items


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _json_array(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


# --- mapping an instruction to its source lines -------------------------------------------------


class _Piece(NamedTuple):
    index: int  # 0-based line number
    head: str  # kept as is: keyword and whitespace on the first line, leading whitespace after
    body: str  # the command text this line contributes
    tail: str  # kept as is: trailing whitespace, the continuation escape, the line ending


def _pieces(lines: List[str], ins: Instruction, escape: str) -> Tuple[List[_Piece], List[int]]:
    """The instruction's lines that carry text (split into head, body, tail), and the comment
    and blank lines inside it (kept whole)."""
    from sm_lint.dockerfile.parser import _trim_continuation

    pieces: List[_Piece] = []
    kept: List[int] = []
    for index in range(ins.start_line - 1, ins.end_line):
        raw = lines[index]
        ending = "\r\n" if raw.endswith("\r\n") else "\n" if raw.endswith("\n") else ""
        content = raw[:len(raw) - len(ending)]
        if index > ins.start_line - 1 and (not content.lstrip(GO_SPACE) or content.lstrip(GO_SPACE)[0] == "#"):
            kept.append(index)
            continue
        body, end_of_line = _trim_continuation(content, escape)
        if end_of_line != (index == ins.end_line - 1):
            raise Refused("the instruction's continuation lines could not be mapped")
        tail = content[len(body):] + ending
        if index == ins.start_line - 1:
            match = re.match(r"(\ufeff?[ \t]*\S+[ \t]+)", body)
            if match is None:
                raise Refused("the instruction has no argument on its first line")
            head, body = match.group(1), body[match.end():]
        else:
            head = body[:len(body) - len(body.lstrip(" \t"))]
            body = body[len(head):]
        trailing = body[len(body.rstrip(" \t")):]
        pieces.append(_Piece(index, head, body[:len(body) - len(trailing)], trailing + tail))
    return pieces, kept


def _rewrite_shell_form(lines: List[str], ins: Instruction, escape: str) -> Tuple[Dict[int, str], List[str]]:
    """New text for the instruction's lines (by 0-based index) and the argv its exec form holds."""
    if ins.flags:
        raise Refused(f"the instruction has flags ({' '.join(ins.flags)})")
    words = sh_words(ins.args)
    argv = exec_argv(words)
    pieces, _ = _pieces(lines, ins, escape)
    # Each line's words must be whole words of the command: none may run across a line break.
    per_line = [sh_words(piece.body) if piece.body else [] for piece in pieces]
    flat = [word for line_words in per_line for word in line_words]
    if flat != words:
        raise Refused("a word of the command runs across a line continuation")
    dropped = len(words) - len(argv)  # the leading `exec`
    remaining = len(argv)
    new: Dict[int, str] = {}
    opened = False
    for piece, line_words in zip(pieces, per_line):
        items = line_words[:]
        while dropped and items:
            items.pop(0)
            dropped -= 1
        text = ""
        if not opened:
            text, opened = "[", True
        if items:
            remaining -= len(items)
            text += ", ".join(json.dumps(item, ensure_ascii=False) for item in items)
            text += "," if remaining else "]"
        new[piece.index] = piece.head + text + piece.tail
    return new, argv


def _rewrite_json_like(lines: List[str], ins: Instruction, escape: str) -> Tuple[Dict[int, str], List[str]]:
    if ins.flags and ins.keyword != "RUN":
        raise Refused(f"the instruction has flags ({' '.join(ins.flags)})")
    items = json_items(ins.args)
    if ins.start_line != ins.end_line:
        raise Refused("the instruction spans several lines (only one-line SM103 fixes are made)")
    pieces, _ = _pieces(lines, ins, escape)
    piece = pieces[0]
    if not piece.body.endswith(ins.args):
        raise Refused("the argument could not be found on the instruction's line")
    prefix = piece.body[:len(piece.body) - len(ins.args)]
    return {piece.index: piece.head + prefix + _json_array(items) + piece.tail}, items


# --- planning and writing -----------------------------------------------------------------------


def split_lines(text: str) -> List[str]:
    """Lines as BuildKit (and dockerfile-parse's readlines) see them: split at "\\n" only."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def plan(path: str, text: str, findings: Sequence[Finding], unused_stage_lines: Sequence[int] = ()) -> Outcome:
    """Apply every safe fix to `text` for `findings` (those of one file)."""
    mine = [f for f in findings if f.location.path == path]
    if any(f.rule == "SM100" for f in mine):
        return Outcome(path, text, text, (), tuple(f"{f.location.line}: {f.rule} not fixed: the file's parse is in "
                                                   "doubt (SM100), so nothing in it is fixed"
                                                   for f in mine if f.rule in RULES))
    wanted = sorted({(f.location.line, f.rule) for f in mine if f.rule in RULES})
    if not wanted:
        return Outcome(path, text, text, (), ())
    parsed = parse(text)
    lines = split_lines(text)
    escape = parsed.directives.escape
    by_line = {ins.start_line: ins for ins in parsed.instructions}
    fixed: List[str] = []
    skipped: List[str] = []
    edits: Dict[int, Tuple[Dict[int, str], List[str], str]] = {}
    for line, rule in wanted:
        ins = by_line.get(line)
        if ins is None or ins.keyword not in _KEYWORDS[rule] or ins.start_line in edits:
            continue
        try:
            if rule == "SM103":
                new, argv = _rewrite_json_like(lines, ins, escape)
                what = f"{ins.keyword} written as valid JSON"
            else:
                if rule == "SM101":
                    _no_cmd_after(parsed, ins)
                new, argv = _rewrite_shell_form(lines, ins, escape)
                what = f"{ins.keyword} to exec form {_json_array(argv)}"
        except Refused as why:
            skipped.append(f"{line}: {rule} not fixed: {why}")
            continue
        edits[ins.start_line] = (new, argv, f"{line}: {rule} fixed: {what}")
    if edits:
        _cross_check(lines, parsed, edits, skipped)
    new_lines = list(lines)
    for new, _, note in edits.values():
        for index, replacement in new.items():
            new_lines[index] = replacement
        fixed.append(note)
    new_text = "".join(new_lines)
    if edits:
        problem = _verify(parsed, new_text, {start: argv for start, (_, argv, _) in edits.items()})
        if problem:
            return Outcome(path, text, text, (), tuple(skipped) + tuple(
                f"{note.split(' fixed: ', 1)[0]} not fixed: {problem}" for _, _, note in edits.values()))
    return Outcome(path, text, new_text, tuple(fixed), tuple(skipped))


def _no_cmd_after(parsed: ParsedDockerfile, ins: Instruction) -> None:
    """A shell-form ENTRYPOINT ignores CMD; in exec form it would receive it. Refuse when a CMD in
    its stage or a later one (conservatively: any) could become its arguments."""
    stage_start = max((i.start_line for i in parsed.instructions
                       if i.keyword == "FROM" and i.start_line < ins.start_line), default=0)
    for other in parsed.instructions:
        if other.keyword == "CMD" and other.start_line > stage_start and not (other.json and not other.value):
            raise Refused(f"the CMD on line {other.start_line} would become the exec-form ENTRYPOINT's arguments")


def _cross_check(lines: List[str], parsed: ParsedDockerfile, edits: Dict[int, tuple], skipped: List[str]) -> None:
    """dockerfile-parse must see each edited instruction on the same lines as BuildKit's parser."""
    from dockerfile_parse import DockerfileParser

    theirs = DockerfileParser(fileobj=io.BytesIO("".join(lines).encode("utf-8", "surrogateescape")),
                              env_replace=False)
    spans = {item["startline"] + 1: (item["endline"] + 1, item["instruction"].upper()) for item in theirs.structure}
    ours = {ins.start_line: ins for ins in parsed.instructions}
    for start in list(edits):
        ins = ours[start]
        if spans.get(start) != (ins.end_line, ins.keyword):
            seen = spans.get(start)
            where = (f"lines {start}-{seen[0]} as {seen[1]}" if seen else "no instruction starting there")
            rule = edits[start][2].split(": ", 2)[1].split()[0]
            skipped.append(f"{start}: {rule} not fixed: dockerfile-parse sees {where}, BuildKit's parser lines "
                           f"{start}-{ins.end_line}, so the lines to rewrite are in doubt")
            del edits[start]


def _verify(before: ParsedDockerfile, new_text: str, argvs: Dict[int, List[str]]) -> Optional[str]:
    """None when the new text parses to the same instructions except the fixed ones, which hold
    exactly their intended argv in exec form."""
    try:
        after = parse(new_text)
    except DockerfileSyntaxError as error:  # pragma: no cover - a bug in the rewrite
        return f"the rewritten file would not parse ({error.message})"
    if len(after.instructions) != len(before.instructions) or after.directives != before.directives:
        return "the rewritten file would have different instructions"
    for old, new in zip(before.instructions, after.instructions):
        if old.start_line in argvs:
            if not new.json or list(new.value) != argvs[old.start_line] or new.keyword != old.keyword \
                    or new.flags != old.flags or new.end_line != old.end_line:
                return "the rewritten instruction would not hold the intended argv"
        elif old != new:
            return "the rewrite would change another instruction"
    return None


def write(path: str, outcome: Outcome) -> None:
    """Write the fixed text through dockerfile-parse's `lines` setter (bytes as given)."""
    from dockerfile_parse import DockerfileParser

    with open(path, "r+b") as handle:
        DockerfileParser(fileobj=handle, env_replace=False).lines = split_lines(outcome.new)


def run_fix(paths: List[str], options: "CheckOptions", catalogue: "Catalogue", *, write_files: bool,
            all_stages: bool) -> List[Outcome]:
    """Plan (and with `write_files`, write) the fixes of every file; the findings decide what is
    fixed, so ignores, pragmas and --target count as they do for `check`."""
    from sm_lint.check import _Settings, discover, read_dockerfile, run_check
    from sm_lint.errors import UsageError

    files = discover(paths)
    if "-" in files:
        raise UsageError("--fix and --diff need files: standard input cannot be rewritten")
    findings = list(run_check(files, options, catalogue).findings)
    layered = _Settings(options, catalogue)
    outcomes = []
    for path in files:
        text = read_dockerfile(path, layered.for_file(path).max_file_size)
        mine = [f for f in findings if f.location.path == path]
        if all_stages and not any(f.rule == "SM100" for f in mine):
            for name in _stage_names(text):
                mine.extend(run_check([path], options._replace(target=name), catalogue).findings)
        outcome = plan(path, text, mine)
        if write_files and outcome.changed:
            write(path, outcome)
        outcomes.append(outcome)
    return outcomes


def _stage_names(text: str) -> List[str]:
    try:
        parsed = parse(text)
    except DockerfileSyntaxError:
        return []
    return [ins.value[2] for ins in parsed.instructions
            if ins.keyword == "FROM" and len(ins.value) == 3 and ins.value[1].lower() == "as"]


def report_fixes(outcomes: Sequence[Outcome], *, diff: bool) -> None:
    """With --diff the diff on stdout; what was fixed (or would be) and what was not on stderr."""
    import sys

    if diff:
        sys.stdout.write("".join(outcome.diff() for outcome in outcomes))
        sys.stdout.flush()
    verb = "would fix" if diff else "fixed"
    for outcome in outcomes:
        for note in outcome.fixed:
            line, _, rest = note.partition(": ")
            sys.stderr.write(f"{outcome.path}:{line}: {rest.replace(' fixed: ', f' {verb}: ', 1)}\n")
        for note in outcome.skipped:
            line, _, rest = note.partition(": ")
            sys.stderr.write(f"{outcome.path}:{line}: {rest}\n")
    count = sum(len(o.fixed) for o in outcomes)
    files = sum(1 for o in outcomes if o.changed)
    left = sum(len(o.skipped) for o in outcomes)
    sys.stderr.write(f"sm-lint: {verb} {count} finding(s) in {files} file(s); {left} fixable-looking finding(s) "
                     "left as they are\n")
