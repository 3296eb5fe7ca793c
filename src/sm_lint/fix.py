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

Unsafe fixes (applied only with `--unsafe-fixes`, listed as available otherwise, as ruff does) change
what runs, in shapes where the change is the one the rule asks for and nothing else:
- SM101/SM102 whose command needs a shell (variables, `&&`, `;`, redirections): the instruction
  becomes the SHELL in force in exec form with `exec` before the last command, `["/bin/sh", "-c",
  "cd /app && exec python app.py"]`, so the program replaces the shell (over continuation lines,
  each line keeps its part of the code inside the JSON string: BuildKit joins the lines before it
  reads the JSON). Only when the code's last `;`-separated part is simple commands joined by `&&`
  (no pipes, `||`, `&`, subshells, groups, compound commands, heredocs, comments), the last one
  starts with a literal program that is not a builtin, keyword or assignment, no trap is set, and
  the SHELL is a POSIX shell run with `-c`. An ENTRYPOINT
  also gets `"$@"` after the last command and `sh` as `$0`, so ContainerArguments and CMD reach the
  program (the loss SM101 reports): refused when a CMD would then become arguments. A CMD gets no
  `"$@"` (arguments replace it), and is refused behind an ENTRYPOINT of the Dockerfile.
- SM105 of an entrypoint script that the build context holds: `exec ` before the script's last
  command, when that is a top-level simple command as above (after `&&` or `;` or on its own line)
  and the script sets no trap (an EXIT trap would no longer run) and defines no function of that name.
The shell analysis (dockerfile/shell) is the judge: the rewritten text must parse to the same
commands with `exec` (and `"$@"`) added to the last one, and for SM105 pid1.analyse must then find
the program PID 1; otherwise the fix is refused.
"""
from __future__ import annotations

import difflib
import io
import json
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint.dockerfile.lex import GO_SPACE
from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.syntax import DockerfileSyntaxError, Instruction, ParsedDockerfile
from sm_lint.findings import Finding

if TYPE_CHECKING:
    from sm_lint.catalogue import Catalogue
    from sm_lint.check import CheckOptions
    from sm_lint.dockerfile.stages import Build
    from sm_lint.profiles import Profile

RULES = ("SM101", "SM102", "SM103", "SM105")
_KEYWORDS = {"SM101": ("ENTRYPOINT",), "SM102": ("CMD",), "SM103": ("ENTRYPOINT", "CMD", "RUN", "SHELL"),
             "SM105": ("ENTRYPOINT", "CMD")}
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
# Builtins that usually also exist as programs: `exec echo` needs /bin/echo, which FROM-scratch or
# distroless images may lack.
_ALSO_BUILTINS = frozenset("echo printf test [ true false pwd kill".split())
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class Refused(Exception):
    """This finding cannot be fixed safely; the message says why."""


class Outcome(NamedTuple):
    path: str
    old: str
    new: str
    fixed: Tuple[str, ...]  # "LINE: RULE what was done"
    skipped: Tuple[str, ...]  # "LINE: RULE not fixed: why"
    unsafe: Tuple[str, ...] = ()  # "LINE: RULE what --unsafe-fixes would do" (not applied)
    # Other files the fixes rewrite (SM105: the entrypoint script in the build context): their own
    # Outcomes, with the notes kept on the Dockerfile's.
    others: Tuple["Outcome", ...] = ()

    @property
    def changed(self) -> bool:
        return self.new != self.old

    def diff(self) -> str:
        lines = difflib.unified_diff(split_lines(self.old), split_lines(self.new),
                                     fromfile=f"a/{self.path}", tofile=f"b/{self.path}")
        # A last line without a newline is marked as diff(1) and patch(1) expect.
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


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
            match = re.compile(_JSON_STRING).match(text, pos)
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


# --- unsafe: `exec` before the last command of shell code ----------------------------------------


def _shell_ast(text: str) -> tuple:
    from sm_lint.dockerfile.shell.parser import _parse  # the project's shell parser: the judge here

    return _parse(text)


def _top_commands(ast: tuple) -> List[tuple]:
    """The commands of the and-or lists of `ast` when they are joined by `&&` only, in the foreground."""
    nodes = []
    for andor, background in ast[1]:
        if background:
            raise Refused("the command runs something in the background (`&`)")
        for op, pipeline in andor[1]:
            if op not in ("", "&&"):
                raise Refused(f"the command uses `{op}`, after which the last command may not be the one that runs")
            if pipeline[2]:
                raise Refused("the command is negated with `!`, which changes its exit status")
            if len(pipeline[1]) != 1:
                raise Refused("the command has a pipeline, whose commands run in subshells")
            nodes.append(pipeline[1][0])
    if not nodes:
        raise Refused("there is no command")
    return nodes


def _walk(node: Any):  # type: ignore[no-untyped-def]
    """Every tuple inside an AST node (nested lists, substitutions and bodies included)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            if isinstance(item, tuple) and item and isinstance(item[0], str):
                yield item
            stack.extend(item)


def _with_last(ast: tuple, node: tuple) -> tuple:
    """`ast` with its last top-level command replaced by `node`."""
    items = list(ast[1])
    andor, background = items[-1]
    pairs = list(andor[1])
    op, pipeline = pairs[-1]
    pairs[-1] = (op, (pipeline[0], [node], pipeline[2]))
    items[-1] = ((andor[0], pairs), background)
    return (ast[0], items)


_ARGS_WORD: Optional[Any] = None


def _args_word() -> Any:
    """How the parser holds `"$@"`."""
    global _ARGS_WORD
    if _ARGS_WORD is None:
        _ARGS_WORD = _top_commands(_shell_ast('x "$@"'))[0][2][1]
    return _ARGS_WORD


def exec_last(text: str, pass_args: bool = False, one_line: bool = True) -> str:
    """`text` with `exec ` before its last command (and ` "$@"` after it with `pass_args`), in the
    shapes where that changes nothing but which process runs the program (module docstring)."""
    if one_line and ("\n" in text or "\r" in text):
        raise Refused("the command spans several lines")
    ast = _shell_ast(text)
    if not ast[1]:
        raise Refused("there is no command")
    # Only the last and-or list decides what runs last: `a || true; cd /x && exec b` is fine.
    last = _top_commands(("L", ast[1][-1:]))[-1]
    if last[0] != "S":
        raise Refused("the last command is not a simple command (a subshell, group, loop or `if`)")
    _, assigns, words, redirects, _line = last
    if assigns:
        raise Refused("the last command starts with a variable assignment")
    if not words or not isinstance(words[0], str):
        raise Refused("the last command's program is not a literal word")
    if any(op.endswith(("<<", "<<-")) for op, _ in redirects):
        raise Refused("the last command has a heredoc")
    functions = {node[1] for node in _walk(ast) if node[0] == "fn"}
    for node in _walk(ast):
        if node[0] == "S" and node[2][:1] == ["trap"]:
            raise Refused("the code sets a trap, which `exec` would drop (an EXIT trap would no longer run)")
    program = words[0]
    if program in functions:
        raise Refused(f"`{program}` is a function of the script, which `exec` cannot run")
    already = program == "exec"
    if not already and program in _NOT_PROGRAMS:
        raise Refused(f"`{program}` is shell syntax or a shell builtin, not a program")
    if program in _ALSO_BUILTINS:
        raise Refused(f"`{program}` is a shell builtin: `exec` would need a program of that name on PATH")
    if already and not pass_args:
        raise Refused("the last command already starts with `exec`")
    if already and (len(words) == 1 or not isinstance(words[1], str) or words[1].startswith("-")):
        raise Refused("the last command is `exec` without a literal program")
    offset = _last_command_offset(text, program)
    new = text if already else text[:offset] + "exec " + text[offset:]
    if pass_args:
        body = new.rstrip(" \t\r\n")
        new = body + ' "$@"' + new[len(body):]
    expected_words = list(words) if already else ["exec", *words]
    if pass_args:
        expected_words.append(_args_word())
    expected = _with_last(ast, ("S", assigns, expected_words, redirects, _line))
    if _shell_ast(new) != expected:
        raise Refused("the shell analysis does not read the rewritten command as the same commands with `exec`")
    return new


def _last_command_offset(text: str, program: str) -> int:
    """Where the last command's first word starts: the last word token that starts a command."""
    from sm_lint.dockerfile.shell.lexer import _E, _N, _O, _W, _Lexer

    tokens = _Lexer(text, None, 0, 0).run()[0]
    offset = None
    previous = None
    for token in tokens:
        if token[0] == _W and (previous is None or previous[0] in (_N, _O)):
            offset = token[2]
        if token[0] != _E:
            previous = token
    if offset is None or not text.startswith(program, offset):
        raise Refused("the last command could not be found in the text")
    return offset


def _shell_prefix(shell: Sequence[str]) -> List[str]:
    """The SHELL in force, when it is a POSIX shell given code with `-c` as its last option."""
    if not shell or shell[-1] != "-c" or shell[0].rsplit("/", 1)[-1] not in _SH:
        raise Refused(f"the SHELL in force ({json.dumps(list(shell))}) is not a POSIX shell run with `-c`")
    return list(shell)


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
    pieces, _ = _pieces(lines, ins, escape)
    piece = pieces[0]
    if ins.start_line == ins.end_line:
        if not piece.body.endswith(ins.args):
            raise Refused("the argument could not be found on the instruction's line")
        prefix = piece.body[:len(piece.body) - len(ins.args)]
        return {piece.index: piece.head + prefix + _json_array(items) + piece.tail}, items
    # Across continuation lines: each line keeps its place and spacing; its quoted items become
    # JSON strings and a trailing comma (on whichever line) goes.
    start = piece.body.find("[")
    if start < 0 or piece.body[:start].split() != list(ins.flags):
        raise Refused("the array does not start on the instruction's first line")
    bodies = _json_fragments([piece.body[start:]] + [p.body for p in pieces[1:]])
    new = {p.index: p.head + body + p.tail for p, body in zip(pieces, bodies)}
    new[piece.index] = piece.head + piece.body[:start] + bodies[0] + piece.tail
    return new, items


_JSON_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'


def _json_fragments(bodies: List[str]) -> List[str]:
    """The lines of a JSON-looking array, each with its items as JSON strings, and the comma before
    the closing `]` dropped; every item must sit on one line."""
    tokens: List[List[Any]] = []  # [line, kind, text]
    for number, body in enumerate(bodies):
        pos = 0
        while pos < len(body):
            char = body[pos]
            if char in " \t":
                end = pos
                while end < len(body) and body[end] in " \t":
                    end += 1
                tokens.append([number, "space", body[pos:end]])
                pos = end
            elif char in "[],":
                tokens.append([number, char, char])
                pos += 1
            elif char == '"':
                match = re.compile(_JSON_STRING).match(body, pos)
                if match is None:
                    raise Refused("a double-quoted item is not a JSON string on one line")
                tokens.append([number, "item", match.group()])
                pos = match.end()
            elif char == "'":
                end = body.find("'", pos + 1)
                if end < 0:
                    raise Refused("a single-quoted item is not closed on its line")
                item = body[pos + 1:end]
                if "\\" in item or '"' in item:
                    raise Refused("a single-quoted item holds a backslash or a double quote, whose meaning is unclear")
                tokens.append([number, "item", json.dumps(item, ensure_ascii=False)])
                pos = end + 1
            else:
                raise Refused(f"`{char}` where an item, `,` or `]` should be")
    significant = [token for token in tokens if token[1] != "space"]
    for before, after in zip(significant, significant[1:]):
        if before[1] == "," and after[1] == "]":
            before[2] = ""
    out = [""] * len(bodies)
    for number, _, text in tokens:
        out[number] += text
    return out


# --- planning and writing -----------------------------------------------------------------------


def split_lines(text: str) -> List[str]:
    """Lines as BuildKit (and dockerfile-parse's readlines) see them: split at "\\n" only."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


class Facts(NamedTuple):
    """What the unsafe fixes need besides the text: the stage model (the SHELL in force, the final
    image's ENTRYPOINT and CMD), the build context (SM105's script) and the profile."""

    model: Optional["Build"] = None
    context_dir: Optional[Path] = None
    profile: Optional["Profile"] = None


def plan(path: str, text: str, findings: Sequence[Finding], *, unsafe: bool = False,
         facts: Facts = Facts()) -> Outcome:
    """Apply every safe fix (and with `unsafe` every unsafe one) to `text` for `findings` (those
    of one file); unsafe fixes not applied are listed in `Outcome.unsafe`."""
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
    available: List[str] = []
    others: List[Outcome] = []
    edits: Dict[int, Tuple[Dict[int, str], List[str], str]] = {}
    for line, rule in wanted:
        ins = by_line.get(line)
        if ins is None or ins.keyword not in _KEYWORDS[rule] or ins.start_line in edits:
            continue
        try:
            if rule == "SM103":
                new, argv = _rewrite_json_like(lines, ins, escape)
                what = f"{ins.keyword} written as valid JSON"
            elif rule == "SM105":
                new, argv, what, script = _fix_pid1_shell(path, lines, ins, escape, parsed, facts)
                if not unsafe:
                    available.append(f"{line}: {rule} {what}")
                    continue
                if script is not None:
                    others.append(script)
                    fixed.append(f"{line}: {rule} fixed: {what}")
                    continue
            else:
                if rule == "SM101":
                    _no_cmd_after(parsed, ins)
                try:
                    new, argv = _rewrite_shell_form(lines, ins, escape)
                    what = f"{ins.keyword} to exec form {_json_array(argv)}"
                except Refused as safe_refusal:
                    try:
                        new, argv = _rewrite_via_shell(lines, ins, escape, rule, parsed, facts)
                    except Refused as unsafe_refusal:
                        raise Refused(f"{safe_refusal}; the unsafe fix does not apply either: {unsafe_refusal}") \
                            from None
                    needs = safe_refusal.args[0].split(" (", 1)[0]
                    what = f"{ins.keyword} to exec form {_json_array(argv)} ({needs}: the shell stays, `exec` " \
                           "makes the program PID 1)"
                    if not unsafe:
                        available.append(f"{line}: {rule} {what}")
                        continue
        except Refused as why:
            skipped.append(f"{line}: {rule} not fixed: {why}")
            continue
        edits[ins.start_line] = (new, argv, f"{line}: {rule} fixed: {what}")
    if edits:
        _cross_check(lines, parsed, edits, skipped)
    in_other_files = tuple(fixed)  # SM105 notes: their edits are in `others`
    new_lines = list(lines)
    for new, _, note in edits.values():
        for index, replacement in new.items():
            new_lines[index] = replacement
        fixed.append(note)
    new_text = "".join(new_lines)
    if edits:
        problem = _verify(parsed, new_text, {start: argv for start, (_, argv, _) in edits.items()})
        if problem:
            return Outcome(path, text, text, in_other_files, tuple(skipped) + tuple(
                f"{note.split(' fixed: ', 1)[0]} not fixed: {problem}" for _, _, note in edits.values()),
                tuple(available), tuple(others))
    return Outcome(path, text, new_text, tuple(sorted(fixed, key=_line_key)), tuple(skipped), tuple(available),
                   tuple(others))


def _line_key(note: str) -> int:
    return int(note.split(":", 1)[0])


def _step_of(model: Optional["Build"], ins: Instruction) -> Any:
    for stage in model.stages if model else ():
        for step in stage.steps:
            if step.instruction.start_line == ins.start_line:
                return step
    raise Refused("the build stages could not be modelled (see the other findings)")


def _rewrite_via_shell(lines: List[str], ins: Instruction, escape: str, rule: str, parsed: ParsedDockerfile,
                       facts: Facts) -> Tuple[Dict[int, str], List[str]]:
    """Unsafe SM101/SM102: the SHELL in force in exec form, `exec` before the last command; an
    ENTRYPOINT also passes its arguments on (`"$@"`, with `sh` as `$0`)."""
    if ins.flags:
        raise Refused(f"the instruction has flags ({' '.join(ins.flags)})")
    prefix = _shell_prefix(_step_of(facts.model, ins).shell)
    if rule == "SM102":
        entrypoints = [i.start_line for i in parsed.instructions if i.keyword == "ENTRYPOINT"
                       and not (i.json and not i.value)]
        if entrypoints:
            raise Refused(f"the ENTRYPOINT on line {entrypoints[-1]} may receive this CMD as its arguments, "
                          "and a shell's words make no sense there in either form")
        code = exec_last(ins.args)
        after = []
    else:
        code = exec_last(ins.args, pass_args=True)
        after = [prefix[0].rsplit("/", 1)[-1]]
    argv = prefix + [code] + after
    pieces, _ = _pieces(lines, ins, escape)
    piece = pieces[0]
    if len(pieces) == 1:
        if not piece.body.endswith(ins.args):
            raise Refused("the argument could not be found on the instruction's line")
        prefix_text = piece.body[:len(piece.body) - len(ins.args)]
        return {piece.index: piece.head + prefix_text + _json_array(argv) + piece.tail}, argv
    return _spread_code(pieces, ins.args, code, prefix, after), argv


def _spread_code(pieces: List[_Piece], old: str, code: str, before: List[str], after: List[str]) -> Dict[int, str]:
    """A shell-form command over continuation lines in exec form on the same lines: each line keeps
    its part of the code inside the JSON string (BuildKit joins the lines before it reads the JSON,
    so the string is the code as the shell saw it), `exec ` and `"$@"` added where they belong."""
    # BuildKit's join: the first line from the argument on, the others whole, each up to its escape.
    segments = []
    for number, piece in enumerate(pieces):
        trailing = piece.tail[:len(piece.tail) - len(piece.tail.lstrip(" \t"))]
        last = number == len(pieces) - 1
        segments.append(("" if number == 0 else piece.head) + piece.body + ("" if last else trailing))
    if "".join(segments) != old:
        raise Refused("the command's continuation lines could not be mapped")
    at = next((i for i, (a, b) in enumerate(zip(old, code)) if a != b), len(old))
    inserted = "exec " if code[at:at + 5] == "exec " and code[at + 5:at + 5 + len(old) - at] == old[at:] else ""
    suffix = code[len(old) + len(inserted):]
    if old[:at] + inserted + old[at:] + suffix != code:
        raise Refused("the rewritten command could not be mapped onto its lines")
    start = 0
    for number, segment in enumerate(segments):  # `exec ` goes into the segment holding its offset
        if inserted and start <= at < start + len(segment) + (number == len(segments) - 1):
            segments[number] = segment[:at - start] + inserted + segment[at - start:]
            inserted = ""
        start += len(segment)
    segments[-1] += suffix
    new: Dict[int, str] = {}
    for number, (piece, segment) in enumerate(zip(pieces, segments)):
        text = json.dumps(segment, ensure_ascii=False)[1:-1]
        trailing = piece.tail[:len(piece.tail) - len(piece.tail.lstrip(" \t"))]
        if number == 0:
            text = piece.head + "[" + "".join(json.dumps(item, ensure_ascii=False) + ", " for item in before) + \
                '"' + text
        if number == len(pieces) - 1:
            new[piece.index] = text + '"' + "".join(", " + json.dumps(item, ensure_ascii=False) for item in after) + \
                "]" + piece.tail
        else:
            new[piece.index] = text + piece.tail[len(trailing):]
    return new


def _fix_pid1_shell(path: str, lines: List[str], ins: Instruction, escape: str, parsed: ParsedDockerfile,
                    facts: Facts) -> Tuple[Dict[int, str], List[str], str, Optional[Outcome]]:
    """Unsafe SM105: `exec` before the last command of the shell that stays PID 1: in the
    entrypoint script of the build context (a new Outcome for that file), or in the `sh -c` code
    of an exec-form ENTRYPOINT/CMD (an edit of the instruction)."""
    # The check's own lookups (checks/command.py), so the fix finds exactly what SM105 looked at.
    from sm_lint import pid1
    from sm_lint.dockerfile import build_context
    from sm_lint.dockerfile.checks.command import _base_shell, _effective_argv, _entrypoint_script
    from sm_lint.dockerfile.context import LintContext, is_shell, shebang_shell

    model = facts.model
    final = model.final if model else None
    if final is None:
        raise Refused("the build stages could not be modelled (see the other findings)")
    argv, setter = _effective_argv(final.entrypoint, final.cmd)
    if setter is None or setter.instruction.start_line != ins.start_line or not setter.exec_form:
        raise Refused("only the final image's exec-form ENTRYPOINT/CMD is fixed")
    ctx = LintContext(path, parsed, model, "auto", facts.context_dir, facts.profile)
    program = argv[0].rsplit("/", 1)[-1]
    signal = ctx.profile.stop_signal[3:]
    if is_shell(program) and argv[1:2] == ("-c",) and len(argv) > 2:
        if ins.flags or ins.start_line != ins.end_line:
            raise Refused("the instruction spans several lines or has flags")
        if len(ins.value) < 3 or ins.value[2] != argv[2]:
            raise Refused("the `-c` code is not in this instruction (it comes from the CMD)")
        code = exec_last(argv[2])
        verdict = pid1.analyse(code, inline=True, shell=pid1.shell_named(program, _base_shell(ctx)).name, signal=signal)
        if verdict.kind != pid1.PROGRAM:
            raise Refused("with `exec` added, the shell would still run other work as its child")
        pieces, _ = _pieces(lines, ins, escape)
        piece = pieces[0]
        start = piece.body.find("[")
        if start < 0:
            raise Refused("the JSON array could not be found on the instruction's line")
        new_argv = [code if index == 2 else item for index, item in enumerate(ins.value)]
        return ({piece.index: piece.head + piece.body[:start] + _json_array(new_argv) + piece.tail}, new_argv,
                f"`exec` added in the `{program} -c` code: {json.dumps(code, ensure_ascii=False)}", None)
    found = _entrypoint_script(argv, program, final, ctx)
    if found is None:
        raise Refused("the entrypoint script is not in the build context")
    script_path, (_, copy) = found
    origin = ctx.image_file_origin(final, script_path)
    if origin is None or copy.heredoc is not None or facts.context_dir is None:
        raise Refused(f"the entrypoint script {script_path} is not a file of the build context")
    host = build_context.resolve(facts.context_dir, origin[0])
    if host is None:
        raise Refused(f"the entrypoint script {script_path} is not a file of the build context")
    try:
        with open(host, "rb") as handle:
            old = handle.read(build_context.MAX_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise Refused(f"the entrypoint script {host} cannot be read as UTF-8 text ({error})") from None
    interpreter = program if is_shell(program) else shebang_shell(old)
    if interpreter is None:
        raise Refused(f"the entrypoint script {script_path} is not a shell script")
    new = exec_last(old, one_line=False)
    verdict = pid1.analyse(new, inline=False, shell=pid1.shell_named(interpreter, _base_shell(ctx)).name,
                           signal=signal)
    if verdict.kind != pid1.PROGRAM:
        raise Refused("with `exec` added, the script would still run other work as the shell's child")
    changed = next(i for i, (a, b) in enumerate(zip(old.split("\n"), new.split("\n"))) if a != b) + 1
    shown = os.path.relpath(host)
    return {}, [], f"`exec` added to line {changed} of the entrypoint script {shown} ({script_path} in the image)", \
        Outcome(shown, old, new, (), ())


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
            all_stages: bool, unsafe: bool = False) -> List[Outcome]:
    """Plan (and with `write_files`, write) the fixes of every file; the findings decide what is
    fixed, so ignores, pragmas and --target count as they do for `check`. The list holds each
    Dockerfile's Outcome, then those of the other files fixed (entrypoint scripts), each once."""
    from sm_lint.check import _context_dir, _Settings, discover, read_dockerfile, run_check

    from sm_lint.errors import UsageError

    files = discover(paths)
    if "-" in files:
        raise UsageError("--fix and --diff need files: standard input cannot be rewritten")
    findings = list(run_check(files, options, catalogue).findings)
    layered = _Settings(options, catalogue)
    outcomes: List[Outcome] = []
    others: Dict[str, Outcome] = {}
    for path in files:
        settings = layered.for_file(path)
        text = read_dockerfile(path, settings.max_file_size)
        mine = [f for f in findings if f.location.path == path]
        if all_stages and not any(f.rule == "SM100" for f in mine):
            for name in _stage_names(text):
                mine.extend(run_check([path], options._replace(target=name), catalogue).findings)
        facts = _facts(text, settings, _context_dir(path, settings, options))
        outcome = plan(path, text, mine, unsafe=unsafe, facts=facts)
        if write_files and outcome.changed:
            write(path, outcome)
        for other in outcome.others:
            if other.path in others:  # another Dockerfile's fix already rewrote this script
                continue
            others[other.path] = other
            if write_files and other.changed:
                with open(other.path, "r+b") as handle:  # a shell script: dockerfile-parse has no business here
                    handle.write(other.new.encode("utf-8"))
                    handle.truncate()
        outcomes.append(outcome)
    return outcomes + list(others.values())


def _facts(text: str, settings: Any, context_dir: Optional[Path]) -> Facts:
    from sm_lint.dockerfile.stages import BuildError, build
    from sm_lint.profiles import get as get_profile

    try:
        model = build(parse(text), dict(settings.build_args), settings.target, settings.platform)
    except (DockerfileSyntaxError, BuildError):
        model = None
    return Facts(model, context_dir, get_profile(settings.profile))


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
        for note in outcome.unsafe:
            line, _, rest = note.partition(": ")
            rule, _, what = rest.partition(" ")
            sys.stderr.write(f"{outcome.path}:{line}: {rule} fixable with --unsafe-fixes: {what}\n")
        for note in outcome.skipped:
            line, _, rest = note.partition(": ")
            sys.stderr.write(f"{outcome.path}:{line}: {rest}\n")
    count = sum(len(o.fixed) for o in outcomes)
    files = sum(1 for o in outcomes if o.changed)
    left = sum(len(o.skipped) for o in outcomes)
    hidden = sum(len(o.unsafe) for o in outcomes)
    more = f"; {hidden} more with --unsafe-fixes" if hidden else ""
    sys.stderr.write(f"sm-lint: {verb} {count} finding(s) in {files} file(s){more}; {left} fixable-looking "
                     "finding(s) left as they are\n")
