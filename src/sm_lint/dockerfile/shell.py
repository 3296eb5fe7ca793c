"""Static analysis of the POSIX-sh/bash text in RUN instructions, heredoc bodies and entrypoints.

Nothing here runs a shell: a regex-driven lexer and a forgiving recursive-descent parser build a
small tuple AST, and a best-effort evaluator walks it with a known environment (Docker ENV/ARG
plus assignments made earlier in the script) and a tracked working directory, emitting one
record per simple command.  The public helpers (`commands`, `written_paths`, `package_installs`,
`mentioned_words`, `final_command`, `forwards_signals`) are views over those records.

Conventions:
- A value that cannot be known statically stays in its source form (`$UNKNOWN/x`,
  `$(mktemp -d)`), so any `$` in a result means "not fully known".
- Every public function returns a best-effort answer and never raises, whatever the input.
- Line numbers are 0-based offsets of the line where a command starts within the script.
"""
from __future__ import annotations

import posixpath
import re
from bisect import bisect_left
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

__all__ = [
    "Command",
    "PathWrite",
    "PackageInstall",
    "Word",
    "commands",
    "written_paths",
    "package_installs",
    "mentioned_words",
    "final_command",
    "forwards_signals",
    "is_unknown",
]


# --------------------------------------------------------------------------- public records


class Command(NamedTuple):
    """One simple command as it would run, after expansion and quote removal."""

    words: Tuple[str, ...]  # never empty in `commands()` output
    redirects: Tuple[Tuple[str, str], ...]  # (operator with fd as written: ">", "2>&", "<<"; target)
    line: int  # 0-based line of the command's first token within the script
    cwd: str  # working directory when the command starts (absolute; may hold `$` when unknown)
    via_exec: bool  # replaces the shell: `exec cmd`, and every command it wraps


class PathWrite(NamedTuple):
    path: str  # absolute and normalised; may hold `$` when not fully known
    command: str  # "redirect", "mkdir", "cp", "curl", "pip", "conda", ...
    line: int


class PackageInstall(NamedTuple):
    manager: str  # ecosystem: apt, yum, zypper, apk, conda, pip, dpkg, rpm
    package: str  # the name as written, version/suite/extras/channel removed
    line: int
    spec: str = ""  # the requirement text as written: "torch==2.1.0+cu121", "curl=7.68.0-1"
    index: Optional[str] = None  # pip index/find-links URLs or conda channels, space-separated


class Word(NamedTuple):
    text: str  # the expanded word
    command: str  # basename of the command's first word
    index: int  # position in the command's words (0: the program itself); -1 for redirect targets
    line: int


def is_unknown(text: str) -> bool:
    """True when an expanded word or path still holds something only known at run time."""
    return "$" in text or "`" in text


# --------------------------------------------------------------------------- lexer


class _Uncompiled(tuple):
    """(pattern, flags) of a module-level regex until the first analysis compiles them all:
    importing this module (the CLI imports every check) must not pay for ~30 compilations."""

    def __new__(cls, pattern: str, flags: int = 0) -> "_Uncompiled":
        return tuple.__new__(cls, (pattern, flags))


_compiled = False


def _compile_patterns() -> None:
    global _compiled
    g = globals()
    for name, value in list(g.items()):
        if type(value) is _Uncompiled:
            g[name] = re.compile(value[0], value[1])
    _compiled = True


_W, _O, _R, _N, _X, _E = "W", "O", "R", "N", "X", "E"  # word, operator, redirection, newline, ((...)), end

# One match per token: blanks and line continuations before it are folded into the match.
# Alternatives are ordered by frequency. `run` takes several plain words of one line at once (they
# are split in C: the per-token Python cost is what dominates); `word` is a plain start followed
# by quotes or expansions. Both exclude a leading digit so that `2>` reaches `redir` (digit-led
# words come back through `dword`). Unicode blanks other than ASCII ones fall to `other`.
_TOKEN = _Uncompiled(
    r"""
    [ \t\r\f\v]*(?:\\\n[ \t\r\f\v]*)*
    (?:
      (?P<run>(?:[^\s\d'"\\$`;&|()<>\#][^\s'"\\$`;&|()<>]*(?=[\s;&|()<>]|\Z)[ \t]*)+)
    | (?P<word>[^\s\d'"\\$`;&|()<>\#][^\s'"\\$`;&|()<>]*)
    | (?P<nl>\n)
    | (?P<arith>\(\()
    | (?P<op>&&|\|\||;;&|;;|;&|\|&|&(?!>)|[;|()])
    | (?P<ps>[<>]\()
    | (?P<redir>\d*(?:<<-|<<<|<<|<>|<&|>&|>>|>\||&>>|&>|<|>))
    | (?P<dword>\d[^\s'"\\$`;&|()<>]*)
    | (?P<com>\#[^\n]*)
    | (?P<end>\Z)
    | (?P<other>)
    )
    """,
    re.X,
)
# Word chunks after the first one; `lit` stops at anything that needs its own handling.
_UQ = _Uncompiled(
    r"""(?P<lit>[^\s'"\\$`;&|()<>]+)|(?P<sq>'[^']*(?:'|\Z))|(?P<dq>")|(?P<esc>\\(?:.|\Z))"""
    r"""|(?P<dol>\$)|(?P<bt>`)""",
    re.S,
)
_DQ = _Uncompiled(r'(?P<lit>[^"\\$`]+)|(?P<esc>\\(?:.|\Z))|(?P<dol>\$)|(?P<bt>`)|(?P<end>")', re.S)
# The word of `${V:-word}`: single quotes only quote outside double quotes.
_BR_UQ = _Uncompiled(
    r"""(?P<lit>[^}'"\\$`]+)|(?P<sq>'[^']*(?:'|\Z))|(?P<dq>")|(?P<esc>\\(?:.|\Z))"""
    r"""|(?P<dol>\$)|(?P<bt>`)|(?P<end>\})""",
    re.S,
)
_BR_Q = _Uncompiled(
    r"""(?P<lit>[^}"\\$`]+)|(?P<dq>")|(?P<esc>\\(?:.|\Z))|(?P<dol>\$)|(?P<bt>`)|(?P<end>\})""", re.S
)
_NAME = _Uncompiled(r"[A-Za-z_]\w*|[0-9@*#?$!-]")
_BRACE_HEAD = _Uncompiled(r"([#!]?)([A-Za-z_]\w*|\d+|[@*#?$!-])")
_BRACE_OP = _Uncompiled(r":?[-=+?]|##?|%%?|//?|:|\^\^?|,,?|@")
_BACKTICK_BODY = _Uncompiled(r"(?:[^`\\]|\\.)*", re.S)
_BACKTICK_UNESCAPE = _Uncompiled(r"\\([\\`$])")
_ANSI_C = _Uncompiled(r"((?:[^'\\]|\\.)*)(?:'|\Z)", re.S)
_ANSI_ESC = _Uncompiled(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|[0-7]{1,3}|.)", re.S)
_ANSI_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "e": "\x1b", "E": "\x1b"}
_PARENS = _Uncompiled(r"[()]")
_NEWLINE = _Uncompiled(r"\n")

_MAX_DEPTH = 40  # nesting of $(...), ${...}, subshells; deeper input is skipped, not parsed

# A word is a plain `str` (fully literal, unquoted: the common case, kept cheap) or a tuple of
# parts:  ("L", text) unquoted literal | ("Q", text) quoted literal
#       | ("V", name, op, argword, raw, quoted) parameter expansion
#       | ("C", raw, ast, quoted) command/process substitution | ("A", raw, quoted) arithmetic
WordRep = Union[str, tuple]


def _ansi_c(body: str) -> str:
    def one(m: "re.Match[str]") -> str:
        e = m.group(1)
        if e[0] in "xu":
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8) & 0xFF)
        return _ANSI_SIMPLE.get(e, e)

    return _ANSI_ESC.sub(one, body)


def _arith_end(src: str, pos: int) -> int:
    """End of `$((...))` / `((...))` whose body starts at pos: the first `))` at depth zero."""
    depth = 2
    for m in _PARENS.finditer(src, pos):
        depth += 1 if m.group() == "(" else -1
        if depth == 0:
            return m.end()
    return len(src)


class _Lexer:
    """Tokenizes `src` into a list; `$(...)` bodies are tokenized and parsed as they are met."""

    __slots__ = ("src", "nl", "base", "depth")

    def __init__(self, src: str, nl: Optional[List[int]] = None, base: int = 0, depth: int = 0):
        self.src = src
        self.nl = nl if nl is not None else [m.start() for m in _NEWLINE.finditer(src)]
        self.base = base
        self.depth = depth

    def line(self, pos: int) -> int:
        return self.base + bisect_left(self.nl, pos)

    def run(self, pos: int = 0, nested: bool = False) -> Tuple[List[tuple], int]:
        """Tokens from pos to the end, or (nested) to the `)` closing a `$(`; returns (tokens, end).

        The token list always ends with an _E token. This is the hot loop: locals only.
        """
        src = self.src
        n = len(src)
        match = _TOKEN.match
        toks: List[tuple] = []
        append = toks.append
        heredocs: List[Tuple[str, bool]] = []  # (delimiter, strip tabs) awaiting the next newline
        want_delim: Optional[bool] = None  # set after `<<`: the next word is a delimiter
        parens = cases = 0  # nested mode: a `)` closes the substitution only outside both
        while True:
            m = match(src, pos)
            kind = m.lastgroup
            end = m.end()
            if kind == "run":
                words = m[kind].split()
                start = m.start(kind)  # all on one line: the line is all positions are used for
                if want_delim is not None or (nested and ("case" in words or "esac" in words)):
                    for word in words:  # rare: the per-word bookkeeping below
                        if want_delim is not None:
                            heredocs.append((word, want_delim))
                            want_delim = None
                        elif nested and (word == "case" or word == "esac") and _command_position(toks):
                            cases += 1 if word == "case" else -1
                        append((_W, word, start))
                else:
                    toks += [(_W, word, start) for word in words]
            elif kind == "word" or kind == "dword" or kind == "other" or kind == "ps":
                if kind == "word" or kind == "dword":
                    word = m[kind]
                    start = end - len(word)
                    if end < n and src[end] in "'\"\\$`":
                        word, end = self._word(end, [("L", word)])
                elif kind == "other":
                    start = end
                    word, end = self._word(end, [])
                    if end == start:  # a blank outside ASCII: taken as a one-character word
                        word, end = src[start], start + 1
                else:  # process substitution `<(...)`: a word whose value is a /dev/fd path
                    start = end - 2
                    parts: list = []
                    word, end = self._word(self._subst(end, parts, False, start), parts)
                if want_delim is not None:
                    heredocs.append((_raw_text(word), want_delim))
                    want_delim = None
                elif nested and (word == "case" or word == "esac") and _command_position(toks):
                    cases += 1 if word == "case" else -1
                append((_W, word, start))
            elif kind == "nl":
                append((_N, "\n", end - 1))
                if heredocs:
                    end = _skip_heredoc_bodies(src, end, heredocs)
                    heredocs = []
            elif kind == "op":
                text = m.group(kind)
                start = end - len(text)
                if nested and text == ")":
                    if parens == 0 and cases <= 0:
                        append((_E, None, start))
                        return toks, end
                    parens -= 1
                elif nested and text == "(":
                    parens += 1
                append((_O, text, start))
            elif kind == "redir":
                text = m.group(kind)
                if text.endswith("<<") or text.endswith("<<-"):
                    want_delim = text.endswith("-")
                append((_R, text, end - len(text)))
            elif kind == "arith":
                start = end - 2
                end = _arith_end(src, end)
                append((_X, src[start:end], start))
            elif kind == "end":
                append((_E, None, end))
                return toks, end
            pos = end

    # -- words

    def _word(self, pos: int, parts: list) -> Tuple[WordRep, int]:
        src = self.src
        while True:
            m = _UQ.match(src, pos)
            if m is None:
                break
            g = m.lastgroup
            pos = m.end()
            if g == "lit":
                parts.append(("L", m.group()))
            elif g == "sq":
                t = m.group()
                parts.append(("Q", t[1:-1] if len(t) > 1 and t.endswith("'") else t[1:]))
            elif g == "esc":
                t = m.group()
                if t != "\\\n":  # a line continuation inside a word joins it
                    parts.append(("Q", t[1:]))
            elif g == "dq":
                pos = self._dquote(pos, parts)
            elif g == "dol":
                pos = self._dollar(pos, parts, False)
            else:
                pos = self._backtick(pos, parts, False)
        return _make_word(parts), pos

    def _dquote(self, pos: int, parts: list) -> int:
        src = self.src
        parts.append(("Q", ""))  # `""` is still one (empty) word
        while True:
            m = _DQ.match(src, pos)
            if m is None:
                return pos
            g = m.lastgroup
            pos = m.end()
            if g == "lit":
                parts.append(("Q", m.group()))
            elif g == "esc":
                t = m.group()
                if t[1:] in ("$", "`", '"', "\\"):
                    parts.append(("Q", t[1:]))
                elif t != "\\\n":
                    parts.append(("Q", t))  # other backslashes stay inside double quotes
            elif g == "dol":
                pos = self._dollar(pos, parts, True)
            elif g == "bt":
                pos = self._backtick(pos, parts, True)
            else:
                return pos

    def _dollar(self, pos: int, parts: list, quoted: bool) -> int:
        """pos is just after `$`; appends the expansion part and returns where it ends."""
        src = self.src
        c = src[pos : pos + 1]
        if c == "(":
            if src.startswith("((", pos):
                end = _arith_end(src, pos + 2)
                parts.append(("A", src[pos - 1 : end], quoted))
                return end
            return self._subst(pos + 1, parts, quoted, pos - 1)
        if c == "{":
            return self._brace(pos + 1, parts, quoted, pos - 1)
        m = _NAME.match(src, pos)
        if m is not None:
            parts.append(("V", m.group(), "", "", src[pos - 1 : m.end()], quoted))
            return m.end()
        if c == "'" and not quoted:
            m = _ANSI_C.match(src, pos + 1)
            parts.append(("Q", _ansi_c(m.group(1))))
            return m.end()
        if c == '"' and not quoted:
            return pos  # $"..." (locale translation) is a plain double-quoted string here
        parts.append(("Q" if quoted else "L", "$"))
        return pos

    def _subst(self, pos: int, parts: list, quoted: bool, start: int) -> int:
        """`$(` / `<(` body starting at pos, tokenized up to its `)` and parsed."""
        if self.depth >= _MAX_DEPTH:
            end = _close_paren(self.src, pos)
            parts.append(("C", self.src[start:end], None, quoted))
            return end
        self.depth += 1
        try:
            toks, end = self.run(pos, nested=True)
            ast = _Parser(toks, self).parse_program()
        finally:
            self.depth -= 1
        parts.append(("C", self.src[start:end], ast, quoted))
        return end

    def _backtick(self, pos: int, parts: list, quoted: bool) -> int:
        src = self.src
        m = _BACKTICK_BODY.match(src, pos)
        end = m.end()
        close = end + 1 if end < len(src) else end
        ast = None
        if self.depth < _MAX_DEPTH:
            inner = _BACKTICK_UNESCAPE.sub(r"\1", m.group())
            ast = _parse(inner, self.line(pos), self.depth + 1)
        parts.append(("C", src[pos - 1 : close], ast, quoted))
        return close

    def _brace(self, pos: int, parts: list, quoted: bool, start: int) -> int:
        """`${...}` with pos after `{`: name, operator, and the operator's word up to `}`."""
        src = self.src
        m = _BRACE_HEAD.match(src, pos)
        name, op, arg = "", "?raw", ""
        if m is not None:
            pre, name = m.group(1), m.group(2)
            pos = m.end()
            if src.startswith("}", pos):
                op = {"#": "len", "!": "?raw"}.get(pre, "")
                parts.append(("V", name, op, "", src[start : pos + 1], quoted))
                return pos + 1
            om = _BRACE_OP.match(src, pos)
            if om is not None and not pre:
                op = om.group()
                pos = om.end()
        if self.depth >= _MAX_DEPTH:
            end = src.find("}", pos)
            end = len(src) if end < 0 else end + 1
            parts.append(("V", "", "?raw", "", src[start:end], quoted))
            return end
        self.depth += 1
        try:
            arg, end = self._brace_word(pos, quoted)
        finally:
            self.depth -= 1
        parts.append(("V", name, op, arg, src[start:end], quoted))
        return end

    def _brace_word(self, pos: int, quoted: bool) -> Tuple[WordRep, int]:
        src = self.src
        rx = _BR_Q if quoted else _BR_UQ
        lit = "Q" if quoted else "L"
        parts: list = []
        while True:
            m = rx.match(src, pos)
            if m is None:
                return _make_word(parts), pos
            g = m.lastgroup
            pos = m.end()
            if g == "end":
                return _make_word(parts), pos
            if g == "lit":
                parts.append((lit, m.group()))
            elif g == "sq":
                t = m.group()
                parts.append(("Q", t[1:-1] if len(t) > 1 and t.endswith("'") else t[1:]))
            elif g == "esc":
                parts.append(("Q", m.group()[1:]))
            elif g == "dq":
                pos = self._dquote(pos, parts)
            elif g == "dol":
                pos = self._dollar(pos, parts, quoted)
            else:
                pos = self._backtick(pos, parts, quoted)


def _skip_heredoc_bodies(src: str, pos: int, heredocs: List[Tuple[str, bool]]) -> int:
    """Bodies start after the newline ending the command line, one after the other."""
    for delim, strip in heredocs:
        term = re.compile("^" + ("\t*" if strip else "") + re.escape(delim) + "\r?$", re.M)
        m = term.search(src, pos)
        pos = len(src) if m is None else min(m.end() + 1, len(src))
    return pos


_CMD_START_WORDS = frozenset(("then", "do", "else", "elif", "{", "!", "if", "while", "until", "in"))


def _command_position(toks: List[tuple]) -> bool:
    if not toks:
        return True
    kind, value, _ = toks[-1]
    return kind in (_O, _N) or (kind == _W and type(value) is str and value in _CMD_START_WORDS)


def _close_paren(src: str, pos: int) -> int:
    depth = 1
    for m in _PARENS.finditer(src, pos):
        depth += 1 if m.group() == "(" else -1
        if depth == 0:
            return m.end()
    return len(src)


def _make_word(parts: list) -> WordRep:
    if all(p[0] == "L" for p in parts):
        return "".join(p[1] for p in parts)
    return tuple(parts)


def _raw_text(word: WordRep) -> str:
    """The word with quotes removed but nothing expanded (heredoc delimiters)."""
    if type(word) is str:
        return word
    out = []
    for p in word:
        tag = p[0]
        out.append(p[1] if tag in ("L", "Q", "C", "A") else p[4])
    return "".join(out)


# --------------------------------------------------------------------------- parser
#
# AST nodes are tuples tagged by their first item:
#   ("L", [(andor, background)])           list          ("A", [(op, pipeline)])   and-or list
#   ("P", [command], negated)              pipeline
#   ("S", assigns, words, redirs, line)    simple command; assigns: [(name, word|None, append)]
#   ("(", list, redirs, line) subshell     ("{", list, redirs, line) group
#   ("if", [(cond, body)], else|None, redirs, line)
#   ("for", name, words|None, body, redirs, line)   ("while", cond, body, redirs, line)
#   ("case", word, [body], redirs, line, has `*)`)   ("fn", name, body, line)   ("((", line) arithmetic

_LIST_STOPS = frozenset(("then", "else", "elif", "fi", "do", "done", "esac", "}"))
_OP_STOPS = frozenset((")", ";;", ";&", ";;&"))
_ASSIGN = _Uncompiled(r"([A-Za-z_]\w*)(\+?)=(.*)\Z", re.S)
_FUNC_NAME = _Uncompiled(r"[^\s'\"\\$`;&|()<>=]+\Z")


class _Parser:
    """Recursive descent over a token list that ends with _E (the parser never moves past it)."""

    __slots__ = ("toks", "i", "tok", "lx", "depth")

    def __init__(self, toks: List[tuple], lx: _Lexer):
        self.toks = toks
        self.i = 0
        self.tok = toks[0]
        self.lx = lx
        self.depth = lx.depth

    def adv(self) -> None:
        if self.tok[0] != _E:
            self.i += 1
            self.tok = self.toks[self.i]

    def is_word(self, text: str) -> bool:
        t = self.tok
        return t[0] == _W and t[1] == text

    def expect(self, text: str) -> None:
        if self.is_word(text):
            self.adv()

    def skip_newlines(self) -> None:
        while self.tok[0] == _N:
            self.adv()

    def parse_program(self) -> tuple:
        """Top level: stray closers (`)`, `fi`, `done`) are skipped so the rest still parses."""
        items: list = []
        while True:
            items.extend(self.parse_list()[1])
            if self.tok[0] == _E:
                return ("L", items)
            self.adv()

    def parse_list(self) -> tuple:
        items = []
        while True:
            t = self.tok
            kind = t[0]
            if kind == _E:
                break
            if kind == _N:
                self.adv()
                continue
            if kind == _O:
                if t[1] in _OP_STOPS:
                    break
                if t[1] != "(":
                    self.adv()  # stray `;`, `|`, `&&`: a syntax error for sh, skipped here
                    continue
            elif kind == _W and type(t[1]) is str and t[1] in _LIST_STOPS:
                break
            node = self.parse_andor()
            bg = False
            t = self.tok
            if t[0] == _O and t[1] in (";", "&"):
                bg = t[1] == "&"
                self.adv()
            items.append((node, bg))
        return ("L", items)

    def parse_andor(self) -> tuple:
        pairs = [("", self.parse_pipeline())]
        while self.tok[0] == _O and self.tok[1] in ("&&", "||"):
            op = self.tok[1]
            self.adv()
            self.skip_newlines()
            pipe = self.parse_pipeline()
            if not pipe[1]:
                break
            pairs.append((op, pipe))
        return ("A", pairs)

    def parse_pipeline(self) -> tuple:
        neg = self.is_word("!")
        if neg:
            self.adv()
        cmds = []
        cmd = self.parse_command()
        if cmd is not None:
            cmds.append(cmd)
            while self.tok[0] == _O and self.tok[1] in ("|", "|&"):
                self.adv()
                self.skip_newlines()
                cmd = self.parse_command()
                if cmd is None:
                    break
                cmds.append(cmd)
        return ("P", cmds, neg)

    def parse_command(self) -> Optional[tuple]:
        t = self.tok
        if t[0] == _O:
            if t[1] != "(":
                return None
            return self._nested(_Parser._subshell)
        if t[0] == _X:
            self.adv()
            return ("((", self.lx.line(t[2]))
        if t[0] == _W and type(t[1]) is str:
            handler = self._COMPOUND.get(t[1])
            if handler is not None:
                return self._nested(handler)
        if t[0] in (_W, _R):
            return self._simple()
        return None

    def _nested(self, handler) -> tuple:
        # Deeply nested input (fuzz, generated code) must not exhaust Python's stack.
        line = self.lx.line(self.tok[2])
        if self.depth >= _MAX_DEPTH:
            self.adv()
            return ("S", [], [], [], line)
        self.depth += 1
        try:
            node = handler(self, line)
        finally:
            self.depth -= 1
        return node

    def _redirs(self) -> list:
        redirs = []
        while self.tok[0] == _R:
            op = self.tok[1]
            self.adv()
            if self.tok[0] == _W:
                redirs.append((op, self.tok[1]))
                self.adv()
        return redirs

    def _subshell(self, line: int) -> tuple:
        self.adv()
        body = self.parse_list()
        if self.tok[0] == _O and self.tok[1] == ")":
            self.adv()
        return ("(", body, self._redirs(), line)

    def _group(self, line: int) -> tuple:
        self.adv()
        body = self.parse_list()
        self.expect("}")
        return ("{", body, self._redirs(), line)

    def _if(self, line: int) -> tuple:
        self.adv()
        clauses = []
        cond = self.parse_list()
        self.expect("then")
        clauses.append((cond, self.parse_list()))
        other = None
        while True:
            if self.is_word("elif"):
                self.adv()
                cond = self.parse_list()
                self.expect("then")
                clauses.append((cond, self.parse_list()))
            elif self.is_word("else"):
                self.adv()
                other = self.parse_list()
            else:
                break
        self.expect("fi")
        return ("if", clauses, other, self._redirs(), line)

    def _while(self, line: int) -> tuple:
        self.adv()
        cond = self.parse_list()
        self.expect("do")
        body = self.parse_list()
        self.expect("done")
        return ("while", cond, body, self._redirs(), line)

    def _for(self, line: int) -> tuple:
        self.adv()
        t = self.tok
        name, words = "", None
        if t[0] == _X:
            self.adv()  # for ((i=0; ...)): the loop variable is arithmetic, body still runs
        elif t[0] == _W:
            name = _raw_text(t[1])
            self.adv()
            self.skip_newlines()
            if self.is_word("in"):
                self.adv()
                words = []
                while self.tok[0] == _W:
                    words.append(self.tok[1])
                    self.adv()
        if self.tok[0] == _O and self.tok[1] == ";":
            self.adv()
        self.skip_newlines()
        self.expect("do")
        body = self.parse_list()
        self.expect("done")
        return ("for", name, words, body, self._redirs(), line)

    def _case(self, line: int) -> tuple:
        self.adv()
        subject: WordRep = ""
        if self.tok[0] == _W:
            subject = self.tok[1]
            self.adv()
        self.skip_newlines()
        self.expect("in")
        bodies = []
        catch_all = False
        while True:
            self.skip_newlines()
            t = self.tok
            if t[0] == _E or self.is_word("esac"):
                break
            if t[0] == _O and t[1] == "(":
                self.adv()
            start = self.tok
            while self.tok[0] == _W or (self.tok[0] == _O and self.tok[1] == "|"):
                if self.tok[1] == "*":
                    catch_all = True
                self.adv()
            if self.tok[0] == _O and self.tok[1] == ")":
                self.adv()
            elif self.tok is start:
                break  # neither a pattern nor `)`: give up on this case rather than loop
            bodies.append(self.parse_list())
            if self.tok[0] == _O and self.tok[1] in (";;", ";&", ";;&"):
                self.adv()
            elif not self.is_word("esac"):
                break
        self.expect("esac")
        return ("case", subject, bodies, self._redirs(), line, catch_all)

    def _function(self, line: int) -> tuple:
        self.adv()
        name = ""
        if self.tok[0] == _W:
            name = _raw_text(self.tok[1])
            self.adv()
        if self.tok[0] == _O and self.tok[1] == "(":
            self.adv()
            if self.tok[0] == _O and self.tok[1] == ")":
                self.adv()
        self.skip_newlines()
        return ("fn", name, self.parse_command() or ("L", []), line)

    def _dbracket(self, line: int) -> tuple:
        # `[[ a < b && c ]]`: operators inside are test syntax, not redirections or lists.
        words = []
        while True:
            self.adv()
            t = self.tok
            if t[0] in (_E, _N):
                break
            words.append(t[1])  # operators too: `>` and `&&` are test syntax here
            if t[0] == _W and t[1] == "]]":
                self.adv()
                break
        return ("S", [], ["[["] + words, self._redirs(), line)

    _COMPOUND = {
        "if": _if,
        "while": _while,
        "until": _while,
        "for": _for,
        "select": _for,
        "case": _case,
        "{": _group,
        "function": _function,
        "[[": _dbracket,
    }

    def _simple(self) -> tuple:
        # The busiest parser path: walks the token list by index instead of calling adv().
        toks = self.toks
        i = self.i
        t = toks[i]
        line = self.lx.line(t[2])
        assigns: list = []
        words: list = []
        redirs: list = []
        while True:
            kind = t[0]
            if kind == _W:
                word = t[1]
                i += 1
                if not words and (type(word) is not str or "=" in word):
                    a = _assignment(word)
                    if a is not None:
                        if a[1] == "" and toks[i][0] == _O and toks[i][1] == "(":
                            self.i, self.tok = i, toks[i]
                            self._skip_parens()  # array `a=(x y)`: contents not tracked
                            i = self.i
                            a = (a[0], None, a[2])
                        assigns.append(a)
                        t = toks[i]
                        continue
                words.append(word)
                t = toks[i]
                if t[0] == _O and t[1] == "(" and len(words) == 1 and not assigns and not redirs:
                    if type(word) is str and _FUNC_NAME.match(word):
                        self.i, self.tok = i, t
                        return self._funcdef(word, line)
            elif kind == _R:
                op = t[1]
                i += 1
                t = toks[i]
                if t[0] == _W:
                    redirs.append((op, t[1]))
                    i += 1
                    t = toks[i]
            else:
                break
        self.i, self.tok = i, t
        return ("S", assigns, words, redirs, line)

    def _funcdef(self, name: str, line: int) -> tuple:
        self.adv()
        if self.tok[0] == _O and self.tok[1] == ")":
            self.adv()
        self.skip_newlines()
        if self.depth >= _MAX_DEPTH:
            return ("fn", name, ("L", []), line)
        self.depth += 1
        try:
            body = self.parse_command() or ("L", [])
        finally:
            self.depth -= 1
        return ("fn", name, body, line)

    def _skip_parens(self) -> None:
        depth = 0
        while self.tok[0] != _E:
            t = self.tok
            if t[0] == _O and t[1] == "(":
                depth += 1
            elif t[0] == _O and t[1] == ")":
                depth -= 1
            self.adv()
            if depth <= 0:
                return


def _assignment(word: WordRep) -> Optional[Tuple[str, Optional[WordRep], bool]]:
    """`NAME=value` (or `NAME+=value`) when the name part is unquoted; else None."""
    if type(word) is str:
        if "=" not in word:
            return None
        m = _ASSIGN.match(word)
        return None if m is None else (m.group(1), m.group(3), bool(m.group(2)))
    first = word[0]
    if first[0] != "L" or "=" not in first[1]:
        return None
    m = _ASSIGN.match(first[1])
    if m is None:
        return None
    rest = word[1:]
    value = _make_word(([("L", m.group(3))] if m.group(3) else []) + list(rest))
    return (m.group(1), value, bool(m.group(2)))


def _parse(script: str, base: int = 0, depth: int = 0) -> tuple:
    if not _compiled:
        _compile_patterns()
    lx = _Lexer(script, None, base, depth)
    return _Parser(lx.run()[0], lx).parse_program()


# --------------------------------------------------------------------------- evaluation

_MISSING = object()  # not in the environment and never assigned: treated as unset
_SPECIAL = frozenset("0123456789@*#?$!-")
_IFS_SPLIT = _Uncompiled(r"[ \t\n]+")
# Fields of a value that holds unknown markers: `$(...)`, `${...}`, backticks stay whole.
_FIELD = _Uncompiled(r"(?:\$\([^)]*\)?|\$\{[^}]*\}?|`[^`]*`?|[^\s$`]|\$)+")
_BRACE_LIST = _Uncompiled(r"\{([^{}]*)\}")
_BRACE_SEQ = _Uncompiled(r"(-?\d+)\.\.(-?\d+)\Z")
_MAX_RECORDS = 5000  # bound the work on pathological loops-in-loops
_MAX_FIELDS = 256


class _State:
    """What the script itself changes: variables and the working directory."""

    __slots__ = ("vars", "cwd", "oldpwd", "stack")

    def __init__(self, variables: Dict[str, object], cwd: str):
        self.vars = variables
        self.cwd = cwd
        self.oldpwd = cwd
        self.stack: List[str] = []

    def copy(self) -> "_State":
        st = _State(dict(self.vars), self.cwd)
        st.oldpwd = self.oldpwd
        st.stack = list(self.stack)
        return st


class _Rec:
    __slots__ = ("cmd", "node", "wrapped", "func")

    def __init__(self, cmd: Command, node: tuple, wrapped: bool, func: str):
        self.cmd = cmd
        self.node = node  # the ("S", ...) node (identity matters), or a compound one for its redirections
        self.wrapped = wrapped  # run by a wrapper (`sudo X`, `exec X`): its words repeat the outer's
        self.func = func  # enclosing function definition, "" at top level


class _Stop(Exception):
    """Record budget exhausted: analysis ends with what it has."""


class _Ctx:
    __slots__ = ("out", "func", "depth")

    def __init__(self) -> None:
        self.out: List[_Rec] = []
        self.func = ""
        self.depth = 0

    def emit(self, cmd: Command, node: tuple, wrapped: bool = False) -> None:
        if len(self.out) >= _MAX_RECORDS:
            raise _Stop()
        self.out.append(_Rec(cmd, node, wrapped, self.func))


def _run_list(node: tuple, st: _State, cx: _Ctx) -> None:
    for andor, bg in node[1]:
        # A background job runs in a subshell: its `cd` and assignments do not come back.
        _run_andor(andor, st.copy() if bg else st, cx)


def _run_andor(node: tuple, st: _State, cx: _Ctx) -> None:
    # Every part is reported. The success path is assumed: what runs after `||` (a fallback
    # such as `cd /a || cd /b`, `|| exit 1`) is evaluated in a copy so its `cd` does not stick.
    for op, pipe in node[1]:
        cmds = pipe[1]
        if len(cmds) == 1:
            _run_cmd(cmds[0], st.copy() if op == "||" else st, cx)
        else:
            for c in cmds:  # each pipeline element runs in its own subshell
                _run_cmd(c, st.copy(), cx)


def _run_cmd(node: tuple, st: _State, cx: _Ctx) -> None:
    kind = node[0]
    if kind == "S":
        _run_simple(node, st, cx)
    elif kind == "(":
        _run_list(node[1], st.copy(), cx)
        _emit_redirs(node, node[2], node[3], st, cx)
    elif kind == "{":
        _run_list(node[1], st, cx)
        _emit_redirs(node, node[2], node[3], st, cx)
    elif kind == "if":
        branches = []
        for cond, body in node[1]:
            _run_list(cond, st, cx)  # conditions run (in order) whatever branch is taken
            branches.append(_run_branch(body, st, cx))
        if node[2] is not None:
            branches.append(_run_branch(node[2], st, cx))
        _merge_branches(st, branches, node[2] is None)
        _emit_redirs(node, node[3], node[4], st, cx)
    elif kind == "for":
        _run_for(node, st, cx)
    elif kind == "while":
        _run_list(node[1], st, cx)
        _run_list(node[2], st, cx)
        _emit_redirs(node, node[3], node[4], st, cx)
    elif kind == "case":
        _fields(node[1], st, cx)  # for the commands in a `$(...)` subject
        _merge_branches(st, [_run_branch(body, st, cx) for body in node[2]], not node[5])
        _emit_redirs(node, node[3], node[4], st, cx)
    elif kind == "fn":
        # Bodies are reported where defined, in a copy: calls are not followed.
        saved = cx.func
        cx.func = node[1]
        try:
            _run_cmd(node[2], st.copy(), cx)
        finally:
            cx.func = saved
    elif kind == "L":
        _run_list(node, st, cx)


def _run_branch(body: tuple, st: _State, cx: _Ctx) -> _State:
    branch = st.copy()
    _run_list(body, branch, cx)
    return branch


def _merge_branches(st: _State, outs: List[_State], fallthrough: bool) -> None:
    """After if/elif/else bodies or case arms (each run from the same state), a variable or the
    cwd keeps a value only when every path (no branch taken too, if that can happen) agrees:
    `if ...; then A=x; else A=y; fi` leaves A unknown rather than guessed."""
    if not outs:
        return
    states = outs + [st] if fallthrough else outs
    merged: Dict[str, object] = {}
    for key in set().union(*(o.vars for o in states)):
        first = states[0].vars.get(key, _MISSING)
        if all(o.vars.get(key, _MISSING) == first for o in states):
            if first is not _MISSING:
                merged[key] = first
        else:
            merged[key] = None
    st.vars = merged
    if all(o.cwd == states[0].cwd for o in states):
        st.oldpwd, st.cwd = states[0].oldpwd, states[0].cwd


def _run_for(node: tuple, st: _State, cx: _Ctx) -> None:
    _, name, words, body, redirs, line = node
    items: Optional[List[str]] = None
    if words is not None:
        items = []
        for w in words:
            items.extend(_fields(w, st, cx))
        # Unroll short, fully known lists so `for d in a b; do mkdir /x/$d; done` is exact.
        if len(items) > 16 or any(is_unknown(i) for i in items):
            items = None
    if items is None:
        if name:
            st.vars[name] = None
        _run_list(body, st, cx)
    else:
        for item in items:
            if name:
                st.vars[name] = item
            _run_list(body, st, cx)
    _emit_redirs(node, redirs, line, st, cx)


def _emit_redirs(node: tuple, redirs: list, line: int, st: _State, cx: _Ctx) -> None:
    """Redirections on a compound command (`{ ...; } > log`) as a record without words."""
    if redirs:
        rd = tuple((op, _expand_str(t, st, cx)) for op, t in redirs)
        cx.emit(Command((), rd, line, st.cwd, False), node)


def _run_simple(node: tuple, st: _State, cx: _Ctx) -> None:
    _, assigns, words, redirs, line = node
    fields: List[str] = []
    for w in words:
        if type(w) is str and w[:1] != "~" and "{" not in w:
            fields.append(w)  # the common case, without a call
        else:
            fields.extend(_fields(w, st, cx))
    values = [(name, None if v is None else _expand_str(v, st, cx), app) for name, v, app in assigns] if assigns else ()
    rd = tuple([(op, _expand_str(t, st, cx)) for op, t in redirs]) if redirs else ()
    if not fields:
        # A bare assignment persists in the shell; a prefix one (`A=1 cmd`) only for cmd.
        for name, value, app in values:
            _assign(st, name, value, app)
        if rd:
            cx.emit(Command((), rd, line, st.cwd, False), node)
        return
    via_exec = fields[0] == "exec" and len(fields) > 1  # `exec >log` only redirects the shell
    cx.emit(Command(tuple(fields), rd, line, st.cwd, via_exec), node)
    inner = fields
    base = _base(inner[0])
    for _ in range(8):
        if base not in _WRAPPERS and base not in _CONDA_TOOLS:
            break
        unwrapped = _unwrap(inner)
        if unwrapped is None:
            break
        inner, is_exec = unwrapped
        base = _base(inner[0])
        via_exec = via_exec or is_exec
        cx.emit(Command(tuple(inner), rd, line, st.cwd, via_exec), node, True)
    if base in _SCRIPT_RUNNERS:
        script = _shell_script(inner)
        if script is not None:
            _run_text(script, st.copy(), cx, line)
    if fields[0] in _STATE_BUILTINS:
        _builtin(fields, st, cx, line)


def _run_text(script: str, st: _State, cx: _Ctx, line: int) -> None:
    """A script given as a string (`sh -c`, `eval`): parsed and run with its lines offset."""
    if cx.depth >= 8:
        return
    cx.depth += 1
    try:
        ast = _parse(script, line, cx.depth)
        _run_list(ast, st, cx)
    finally:
        cx.depth -= 1


def _assign(st: _State, name: str, value: Optional[str], append: bool) -> None:
    if append and value is not None:
        old = st.vars.get(name, "")
        value = None if old is None else (old if type(old) is str else "") + value
    st.vars[name] = value


# -- builtins that change the state


_STATE_BUILTINS = frozenset(
    ("cd", "pushd", "popd", "export", "readonly", "local", "declare", "typeset", "unset", "read", "getopts", "eval")
)


def _builtin(words: List[str], st: _State, cx: _Ctx, line: int) -> None:
    name = words[0]
    if name == "cd":
        _cd(words[1:], st)
    elif name == "pushd":
        args = [a for a in words[1:] if not a.startswith("-") or a == "-"]
        if args:
            st.stack.append(st.cwd)
            _cd(args[:1], st)
    elif name == "popd":
        if st.stack:
            st.oldpwd, st.cwd = st.cwd, st.stack.pop()
    elif name in ("export", "readonly", "local", "declare", "typeset"):
        for arg in words[1:]:
            if not arg.startswith("-") and "=" in arg:
                key, _, value = arg.partition("=")
                append = key.endswith("+")
                key = key.rstrip("+")
                if _NAME.fullmatch(key):
                    _assign(st, key, value, append)
    elif name == "unset":
        for arg in words[1:]:
            if not arg.startswith("-"):
                st.vars.pop(arg, None)
    elif name in ("read", "getopts"):
        skip = False
        for arg in words[1:]:
            if skip:
                skip = False
            elif arg.startswith("-"):
                skip = arg[-1:] in "adinNptu" and len(arg) == 2
            elif _NAME.fullmatch(arg):
                st.vars[arg] = None
    elif name == "eval" and len(words) > 1:
        _run_text(" ".join(words[1:]), st, cx, line)


def _cd(args: List[str], st: _State) -> None:
    args = [a for a in args if a == "-" or not a.startswith("-") or a == "--"]
    args = [a for a in args if a != "--"]
    if not args:
        home = st.vars.get("HOME")
        target = home if type(home) is str and home else "$HOME"
    elif args[0] == "-":
        target = st.oldpwd
    else:
        target = args[0]
    st.oldpwd, st.cwd = st.cwd, _abspath(target, st.cwd)


# -- expansion


def _fields(word: WordRep, st: _State, cx: _Ctx) -> List[str]:
    """A word after expansion, field splitting and quote removal (0..n fields)."""
    if type(word) is str:
        if word[:1] == "~":
            word = _tilde(word, st)
        if "{" in word and ("," in word or ".." in word):
            return _brace_expand(word)
        return [word]
    parts = word
    first = parts[0]
    if first[0] == "L" and first[1][:1] == "~":
        parts = (("L", _tilde(first[1], st)),) + tuple(parts[1:])
    fields: List[str] = []
    cur: List[str] = []
    has = False
    for p in parts:
        tag = p[0]
        if tag == "L":
            if p[1]:
                cur.append(p[1])
                has = True
        elif tag == "Q":
            cur.append(p[1])
            has = True
        else:
            text, known = _part_value(p, st, cx)
            if p[-1] or not known:  # quoted, or a marker that must stay whole
                cur.append(text)
                has = has or bool(text) or p[-1]
                continue
            for i, seg in enumerate(_split(text)):
                if i:
                    if has:
                        fields.append("".join(cur))
                    cur, has = [], False
                if seg:
                    cur.append(seg)
                    has = True
    if has:
        fields.append("".join(cur))
    if any(p[0] == "L" and "{" in p[1] for p in parts):
        return [f for field in fields for f in _brace_expand(field)][:_MAX_FIELDS]
    return fields


def _expand_str(word: WordRep, st: _State, cx: _Ctx) -> str:
    """A word expanded without field splitting (assignment values, redirect targets)."""
    if type(word) is str:
        return _tilde(word, st) if word[:1] == "~" else word
    out = []
    for p in word:
        if p[0] in ("L", "Q"):
            out.append(p[1])
        else:
            out.append(_part_value(p, st, cx)[0])
    text = "".join(out)
    if word and word[0][0] == "L" and text[:1] == "~":
        text = _tilde(text, st)
    return text


def _split(text: str) -> List[str]:
    """IFS splitting; a leading/trailing "" marks whitespace at that end."""
    if "$" in text or "`" in text:
        fields = _FIELD.findall(text)
        if text[:1].isspace():
            fields.insert(0, "")
        if text[-1:].isspace():
            fields.append("")
        return fields or [""]
    return _IFS_SPLIT.split(text)


def _part_value(p: tuple, st: _State, cx: _Ctx) -> Tuple[str, bool]:
    """(text, known) for an expansion part; unknown values come back as their source text."""
    tag = p[0]
    if tag == "V":
        return _var(p, st, cx)
    if tag == "C":
        if p[2] is not None and cx.depth < 8:
            cx.depth += 1
            try:
                _run_list(p[2], st.copy(), cx)  # the commands inside run too
            finally:
                cx.depth -= 1
        return p[1], False
    return p[1], False  # arithmetic


def _lookup(name: str, st: _State) -> object:
    if name in _SPECIAL or name[:1].isdigit():
        return None
    if name == "PWD":
        return st.cwd
    if name == "OLDPWD":
        return st.oldpwd
    return st.vars.get(name, _MISSING)


def _var(p: tuple, st: _State, cx: _Ctx) -> Tuple[str, bool]:
    _, name, op, arg, raw, _quoted = p
    if not name or op == "?raw":
        return raw, False
    val = _lookup(name, st)
    if op == "":
        return (val, True) if type(val) is str else (raw, False)
    if val is None:  # assigned by the script but not knowable (read, for over unknown list)
        return raw, False
    unset = val is _MISSING
    if op in ("-", ":-", "=", ":="):
        # A variable neither in ENV/ARG nor assigned is taken as unset: the default is
        # the author's intended value, more useful than a marker.
        if unset or (op[0] == ":" and val == ""):
            default = _expand_str(arg, st, cx)
            if op[-1] == "=" and name not in _SPECIAL:
                st.vars[name] = default
            return default, True
        return val, True  # type: ignore[return-value]
    if op in ("+", ":+"):
        if unset or (op == ":+" and val == ""):
            return "", True
        return _expand_str(arg, st, cx), True
    if unset:
        return raw, False
    text = str(val)
    if op in ("?", ":?"):
        return (text, True) if text or op == "?" else (raw, False)
    if op == "len":
        return str(len(text)), True
    if op in ("#", "##", "%", "%%"):
        return _trim(text, op, _expand_str(arg, st, cx)), True
    if op in ("^^", ",,", "^", ",") and not arg:
        if op == "^^":
            return text.upper(), True
        if op == ",,":
            return text.lower(), True
        return (text[:1].upper() if op == "^" else text[:1].lower()) + text[1:], True
    if op in ("/", "//"):
        # `cu${CUDA_VERSION//./}` is how Dockerfiles spell CUDA wheel indexes.
        pattern, replacement = _split_replace_arg(arg)
        return _replace(text, _expand_str(pattern, st, cx), _expand_str(replacement, st, cx), op == "//"), True
    if op == ":":
        got = _substring(text, _expand_str(arg, st, cx))
        return (got, True) if got is not None else (raw, False)
    return raw, False


def _split_replace_arg(arg: WordRep) -> Tuple[WordRep, WordRep]:
    """`pat/rep` of ${V/pat/rep}, split at the first unquoted `/` (`\\/` is part of pat)."""
    parts = [("L", arg)] if type(arg) is str else list(arg)
    for i, p in enumerate(parts):
        if p[0] == "L" and "/" in p[1]:
            head, _, tail = p[1].partition("/")
            before = parts[:i] + ([("L", head)] if head else [])
            after = ([("L", tail)] if tail else []) + parts[i + 1 :]
            return _make_word(before), _make_word(after)
    return arg, ""


def _glob_regex(pattern: str) -> str:
    """A shell glob as a regex (greedy: bash replaces the longest match)."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[" and "]" in pattern[i + 1 :]:
            close = pattern.index("]", i + 1)
            body = pattern[i:close]
            out.append("[" + ("^" + body[1:] if body[:1] in "!^" else body).replace("\\", "\\\\") + "]")
            i = close + 1
        else:
            out.append(re.escape(c))
    return "".join(out)


def _replace(text: str, pattern: str, replacement: str, every: bool) -> str:
    """${V/pat/rep}, ${V//pat/rep}, ${V/#pat/rep}, ${V/%pat/rep}."""
    anchor = ""
    if pattern[:1] in ("#", "%"):
        anchor, pattern = pattern[0], pattern[1:]
    if not pattern:
        return replacement + text if anchor == "#" else text + replacement if anchor == "%" else text
    rx = _glob_regex(pattern)
    rx = "^(?:" + rx + ")" if anchor == "#" else "(?:" + rx + ")$" if anchor == "%" else rx
    try:
        return re.sub(rx, lambda _m: replacement, text, count=0 if every else 1)
    except re.error:
        return text


def _substring(text: str, spec: str) -> Optional[str]:
    """${V:offset} and ${V:offset:length}; None when the numbers are not plain integers."""
    offset, _, length = spec.partition(":")
    try:
        start = int(offset.strip() or "0")
        if start < 0:
            start = max(len(text) + start, 0)
        if not _:
            return text[start:]
        count = int(length.strip() or "0")
    except ValueError:
        return None
    end = start + count if count >= 0 else len(text) + count
    return text[start:end] if end >= start else None


def _trim(text: str, op: str, pattern: str) -> str:
    """${V#pat} ${V##pat} ${V%pat} ${V%%pat} with fnmatch as the glob engine."""
    n = len(text)
    if op[0] == "#":
        order = range(n + 1) if op == "#" else range(n, -1, -1)
        for i in order:
            if fnmatchcase(text[:i], pattern):
                return text[i:]
    else:
        order = range(n, -1, -1) if op == "%" else range(n + 1)
        for i in order:
            if fnmatchcase(text[i:], pattern):
                return text[:i]
    return text


def _tilde(text: str, st: _State) -> str:
    head, sep, tail = text.partition("/")
    if head != "~":
        return text  # ~user: unknown home, left as written
    home = st.vars.get("HOME")
    return (home if type(home) is str and home else "$HOME") + sep + tail


def _brace_expand(text: str) -> List[str]:
    """Bash brace expansion (`{a,b}`, `{1..3}`), bounded; dash would keep braces literally."""
    m = None
    for cand in _BRACE_LIST.finditer(text):
        if "," in cand.group(1) or _BRACE_SEQ.match(cand.group(1)):
            m = cand
            break
    if m is None:
        return [text]
    body = m.group(1)
    seq = _BRACE_SEQ.match(body)
    if seq is not None:
        a, b = int(seq.group(1)), int(seq.group(2))
        step = 1 if b >= a else -1
        alts = [str(i) for i in range(a, b + step, step)[:_MAX_FIELDS]]
    else:
        alts = body.split(",")
    pre, post = text[: m.start()], text[m.end() :]
    out: List[str] = []
    for alt in alts:
        out.extend(_brace_expand(pre + alt + post))
        if len(out) >= _MAX_FIELDS:
            break
    return out[:_MAX_FIELDS]


# -- wrappers and nested shells


def _opts(
    args: Sequence[str], short_arg: str = "", long_arg: frozenset = frozenset(), stop_at_operand: bool = False
) -> Tuple[List[Tuple[str, Optional[str]]], List[str]]:
    """getopt-style split: ([(name, value or None)], operands); names without dashes."""
    opts: List[Tuple[str, Optional[str]]] = []
    operands: List[str] = []
    i, n = 0, len(args)
    while i < n:
        a = args[i]
        i += 1
        if a == "--":
            operands.extend(args[i:])
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if eq:
                opts.append((name, value))
            elif name in long_arg and i < n:
                opts.append((name, args[i]))
                i += 1
            else:
                opts.append((name, None))
        elif a.startswith("-") and len(a) > 1:
            for j in range(1, len(a)):
                c = a[j]
                if c in short_arg:
                    if j + 1 < len(a):
                        opts.append((c, a[j + 1 :]))
                    elif i < n:
                        opts.append((c, args[i]))
                        i += 1
                    else:
                        opts.append((c, ""))
                    break
                opts.append((c, None))
        else:
            operands.append(a)
            if stop_at_operand:
                operands.extend(args[i:])
                break
    return opts, operands


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


# name -> (short options with a value, long options with a value, operands to skip before the command)
_WRAPPERS: Dict[str, Tuple[str, frozenset, int]] = {
    "sudo": ("ugCDhprtUTR", frozenset(("user", "group", "close-from", "chdir", "host", "prompt", "role", "type", "other-user", "command-timeout", "chroot")), 0),
    "env": ("uCS", frozenset(("unset", "chdir", "split-string")), 0),
    "nohup": ("", frozenset(), 0),
    "time": ("fo", frozenset(("format", "output")), 0),
    "nice": ("n", frozenset(("adjustment",)), 0),
    "timeout": ("sk", frozenset(("signal", "kill-after")), 1),
    "stdbuf": ("ioe", frozenset(("input", "output", "error")), 0),
    "xargs": ("adEILnPs", frozenset(("arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var")), 0),
    "gosu": ("", frozenset(), 1),
    "su-exec": ("", frozenset(), 1),
    "tini": ("pe", frozenset(), 0),
    "dumb-init": ("r", frozenset(("rewrite",)), 0),
    "eatmydata": ("", frozenset(), 0),
    "builtin": ("", frozenset(), 0),
    "runuser": ("ugG", frozenset(("user", "group", "supp-group")), 0),
    "exec": ("a", frozenset(), 0),
    "command": ("", frozenset(), 0),
}
_CONDA_TOOLS = frozenset(("conda", "mamba", "micromamba"))


def _unwrap(words: List[str]) -> Optional[Tuple[List[str], bool]]:
    """The command a wrapper runs: (its words, whether it replaces the shell) or None."""
    name = _base(words[0])
    if name in _CONDA_TOOLS and words[1:2] == ["run"]:
        _, rest = _opts(words[2:], "npr", frozenset(("name", "prefix", "cwd", "root-prefix")), True)
        return (rest, False) if rest else None
    spec = _WRAPPERS.get(name)
    if spec is None:
        return None
    short_arg, long_arg, skip = spec
    opts, rest = _opts(words[1:], short_arg, long_arg, True)
    if name == "command" and any(o[0] in ("v", "V") for o in opts):
        return None  # `command -v x` looks x up, it does not run it
    if name == "runuser" and not any(o[0] in ("u", "user") for o in opts):
        return None  # `runuser -l user -c ...` is handled as a script
    if name in ("sudo", "env"):
        while rest and _ASSIGN.match(rest[0]):
            rest = rest[1:]
        if name == "env":
            split = [v for o, v in opts if o in ("S", "split-string") and v]
            if split:
                rest = split[-1].split() + rest
    rest = rest[skip:]
    if not rest:
        return None
    return rest, name == "exec"


_SHELLS = frozenset(("sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"))
_SCRIPT_RUNNERS = _SHELLS | {"su", "runuser"}


def _shell_script(words: List[str]) -> Optional[str]:
    """The script text of `sh -c '...'`, `bash -lc`, `su -c` and friends, else None."""
    name = _base(words[0])
    if name in _SHELLS:
        i, has_c = 1, False
        if name == "busybox":
            if len(words) < 2 or words[1] not in ("sh", "ash"):
                return None
            i = 2
        while i < len(words):
            a = words[i]
            if a == "--":
                i += 1
                break
            if a[:1] not in ("-", "+") or len(a) < 2:
                break
            if a in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
                i += 2
                continue
            if not a.startswith("--") and "c" in a[1:]:
                has_c = True
            i += 1
        return words[i] if has_c and i < len(words) else None
    if name in ("su", "runuser"):
        opts, _ = _opts(words[1:], "cgGsw", frozenset(("command", "group", "supp-group", "shell", "whitelist-environment")))
        scripts = [v for o, v in opts if o in ("c", "command") and v]
        return scripts[-1] if scripts else None
    return None


# --------------------------------------------------------------------------- analysis cache


_RAISE = False  # tests set this to see internal errors that the public API would swallow


class _Analysis:
    __slots__ = ("ast", "records", "views")

    def __init__(self, ast: tuple, records: Tuple[_Rec, ...]):
        self.ast = ast
        self.records = records
        self.views: Dict[object, tuple] = {}  # results of the public functions, computed once


def _view(script: str, env: Optional[Mapping[str, str]], workdir: str, key: object, compute) -> list:
    """A public list result, memoised on the (cached) analysis: several rules ask the same."""
    try:
        analysis = _analyse(script, env, workdir)
        got = analysis.views.get(key)
        if got is None:
            out: list = []
            try:
                compute(analysis.records, out)
            except Exception:
                if _RAISE:
                    raise
            got = analysis.views[key] = tuple(out)  # partial on error: best effort
        return list(got)
    except Exception:
        if _RAISE:
            raise
        return []


def _analyse(script: str, env: Optional[Mapping[str, str]], workdir: str) -> _Analysis:
    if not _compiled:
        _compile_patterns()
    if not isinstance(script, str):
        return _Analysis(("L", []), ())
    if not isinstance(workdir, str):
        workdir = "/"
    env_items: tuple = ()
    if env:
        try:
            env_items = tuple(env.items())
            hash(env_items)
        except Exception:
            return _analyse_uncached(script, dict(_safe_env(env)), workdir)
    return _analyse_cached(script, env_items, workdir)


def _safe_env(env: Mapping[str, str]) -> Iterator[Tuple[str, str]]:
    try:
        for k, v in env.items():
            yield str(k), str(v)
    except Exception:
        return


@lru_cache(maxsize=512)
def _analyse_cached(script: str, env_items: tuple, workdir: str) -> _Analysis:
    # Rules ask several questions about the same RUN: parse and evaluate it once.
    return _analyse_uncached(script, {str(k): str(v) for k, v in env_items}, workdir)


def _analyse_uncached(script: str, env: Dict[str, object], workdir: str) -> _Analysis:
    cx = _Ctx()
    ast: tuple = ("L", [])
    try:
        ast = _parse(script)
        start = _abspath(workdir or "/", "/")
        _run_list(ast, _State(dict(env), start), cx)
    except _Stop:
        pass
    except Exception:  # RecursionError included
        if _RAISE:
            raise
        # best effort: keep the records made so far
    return _Analysis(ast, tuple(cx.out))


_SLASHES = _Uncompiled(r"/(?:\.?/)+")


def _abspath(path: str, cwd: str) -> str:
    if not path:
        return cwd
    if path[0] not in "/$~`":
        path = cwd.rstrip("/") + "/" + path
    if is_unknown(path):
        # `..` after `$(dirname $(which x))` must not eat the marker: only tidy the slashes.
        norm = _SLASHES.sub("/", path)
        return norm.rstrip("/") or "/"
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


# --------------------------------------------------------------------------- public API


def commands(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> List[Command]:
    """Every simple command with words, in execution order; wrapped commands follow their wrapper."""
    return _view(script, env, workdir, "commands", _commands)


def _commands(records: Tuple[_Rec, ...], out: List[Command]) -> None:
    out.extend(r.cmd for r in records if r.cmd.words)


_SKIP_PATHS = frozenset(("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero", "-", ""))
_WRITE_REDIRS = frozenset((">", ">>", ">|", "&>", "&>>", "<>"))
_REDIR_OP = _Uncompiled(r"(\d*|\{\w+\})(.*)\Z", re.S)


def written_paths(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> List[PathWrite]:
    """Files and directories the script creates or modifies, as absolute normalised paths."""
    return _view(script, env, workdir, "writes", _writes)


def _writes(records: Tuple[_Rec, ...], out: List[PathWrite]) -> None:
    for rec in records:
        cmd = rec.cmd
        if cmd.redirects and not rec.wrapped:
            for target in _redirect_writes(cmd.redirects):
                _add_path(out, target, "redirect", cmd)
        if cmd.words:
            for path, label in _tool_writes(cmd):
                _add_path(out, path, label, cmd)


def _redirect_writes(redirects: Tuple[Tuple[str, str], ...]) -> Iterator[str]:
    for op, target in redirects:
        bare = _REDIR_OP.match(op).group(2)  # type: ignore[union-attr]
        if bare in _WRITE_REDIRS or (bare == ">&" and not target.isdigit() and target != "-"):
            if not target.startswith(("<(", ">(")):
                yield target


def _add_path(out: List[PathWrite], path: str, label: str, cmd: Command) -> None:
    if path in _SKIP_PATHS or path.startswith(("/dev/fd/", "/proc/self/fd/")):
        return
    if "://" in path:
        return
    full = _abspath(path, cmd.cwd)
    if full in _SKIP_PATHS or full.startswith(("/dev/fd/", "/proc/self/fd/")):
        return
    out.append(PathWrite(full, label, cmd.line))


def _tool_writes(cmd: Command) -> Iterator[Tuple[str, str]]:
    words = cmd.words
    name = _base(words[0])
    if name not in _WRITERS and name[:3] != "pip" and name[:6] != "python":
        return
    pip_args = _pip_args(words)
    if pip_args is not None:
        yield from _pip_writes(pip_args)
        return
    handler = _WRITERS.get(name)
    if handler is not None:
        yield from handler(name, list(words[1:]), cmd.cwd)
    elif _is_python(name) and "-m" in words and ("venv" in words or "virtualenv" in words):
        _, ops = _opts(words[words.index("-m") + 2 :], "p", frozenset(("prompt", "python")))
        for d in ops:
            yield d, "venv"


def _w_operands(short_arg: str = "", long_arg: tuple = ()) -> object:
    longs = frozenset(long_arg)

    def writes(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
        _, ops = _opts(args, short_arg, longs)
        for op in ops:
            yield op, name

    return writes


def _w_copy(short_arg: str, long_arg: tuple) -> object:
    """cp/mv/install/rsync/ln: the destination is -t DIR, else the last operand."""
    longs = frozenset(long_arg)

    def writes(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
        opts, ops = _opts(args, short_arg, longs)
        target = [v for o, v in opts if o in ("t", "target-directory") and v]
        if name == "install" and any(o in ("d", "directory") for o, _ in opts):
            for op in ops:
                yield op, name
            return
        if target:
            yield target[-1], name
        elif len(ops) >= 2:
            dest = ops[-1]
            if name == "rsync" and (":" in dest.split("/", 1)[0]):
                return  # remote host:path destination
            yield dest, name
        elif name == "ln" and ops:
            yield posixpath.basename(ops[0].rstrip("/")) or ops[0], name  # link made in cwd

    return writes


def _url_basename(url: str) -> str:
    path = url.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1]
        path = path.partition("/")[2]
    return posixpath.basename(path)


_CURL_SHORT = "AbcCdDeEFHKmoPQrTuUwxXyYzt"
_CURL_LONG = frozenset(
    (
        "output", "output-dir", "header", "data", "data-raw", "data-binary", "data-urlencode", "user",
        "user-agent", "request", "url", "config", "cookie", "cookie-jar", "dump-header", "retry",
        "retry-delay", "retry-max-time", "max-time", "connect-timeout", "proxy", "referer", "range",
        "upload-file", "write-out", "cert", "cacert", "key", "form", "limit-rate", "resolve",
        "continue-at", "keepalive-time", "max-redirs", "proxy-user", "capath", "interface", "ciphers",
        "oauth2-bearer", "time-cond", "speed-limit", "speed-time", "expect100-timeout", "max-filesize",
    )
)


def _w_curl(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, _CURL_SHORT, _CURL_LONG)
    urls = ops + [v for o, v in opts if o == "url" and v]
    outdir = [v for o, v in opts if o == "output-dir" and v]
    base = outdir[-1] if outdir else ""
    remote = any(o in ("O", "remote-name") for o, _ in opts)
    for o, v in opts:
        if o in ("o", "output") and v and v != "-":
            yield (posixpath.join(base, v) if base else v), name
        elif o in ("D", "dump-header", "c", "cookie-jar") and v and v != "-":
            yield v, name
    if remote:
        for url in urls:
            leaf = _url_basename(url)
            if leaf:
                yield (posixpath.join(base, leaf) if base else leaf), name


_WGET_SHORT = "OoaPitTwUeBQlARDXIn"
_WGET_LONG = frozenset(
    (
        "output-document", "output-file", "append-output", "directory-prefix", "input-file", "tries",
        "timeout", "wait", "user-agent", "execute", "base", "quota", "level", "accept", "reject",
        "domains", "exclude-directories", "include-directories", "header", "user", "password",
        "http-user", "http-password", "post-data", "post-file", "referer", "load-cookies",
        "save-cookies", "ca-certificate", "certificate", "private-key", "ca-directory",
    )
)


def _w_wget(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, _WGET_SHORT, _WGET_LONG)
    doc = [v for o, v in opts if o in ("O", "output-document") and v is not None]
    prefix = [v for o, v in opts if o in ("P", "directory-prefix") and v]
    for o, v in opts:
        if o in ("o", "output-file", "a", "append-output", "save-cookies") and v and v != "-":
            yield v, name
    if doc:
        if doc[-1] != "-":
            yield doc[-1], name  # -O ignores -P
        return
    base = prefix[-1] if prefix else ""
    for url in ops:
        leaf = _url_basename(url) or "index.html"
        yield (posixpath.join(base, leaf) if base else leaf), name


_TAR_SHORT = "fCbTXKLgIHVN"
_TAR_LONG = frozenset(
    (
        "file", "directory", "blocking-factor", "files-from", "exclude-from", "exclude", "starting-file",
        "newer", "newer-mtime", "tape-length", "listed-incremental", "use-compress-program", "format",
        "owner", "group", "mode", "mtime", "transform", "xform", "index-file", "volno-file",
        "info-script", "rsh-command", "label", "suffix", "to-command", "strip-components",
    )
)


def _w_tar(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if args and not args[0].startswith("-"):
        args = _tar_old_style(args)
    opts, _ = _opts(args, _TAR_SHORT, _TAR_LONG)
    names = {o for o, _ in opts}
    if names & {"x", "extract", "get"}:
        dirs = [v for o, v in opts if o in ("C", "directory") and v]
        yield (dirs[-1] if dirs else "."), name
    elif names & {"c", "create", "r", "append", "u", "update"}:
        files = [v for o, v in opts if o in ("f", "file") and v]
        if files and files[-1] != "-":
            yield files[-1], name


def _tar_old_style(args: List[str]) -> List[str]:
    """`tar xzf a.tgz -C d` -> `tar -x -z -f a.tgz -C d`: bundled letters take values in order."""
    rest = list(args[1:])
    out: List[str] = []
    for c in args[0]:
        out.append("-" + c)
        if c in _TAR_SHORT and rest:
            out.append(rest.pop(0))
    return out + rest


def _w_unzip(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, _ = _opts(args, "dxP", frozenset())
    if any(o in ("p", "l", "t", "Z", "v", "c") for o, _ in opts):
        return  # to stdout / listing / testing: nothing extracted
    dirs = [v for o, v in opts if o == "d" and v]
    yield (dirs[-1] if dirs else "."), name


_GIT_CLONE_LONG = frozenset(
    (
        "branch", "depth", "config", "origin", "reference", "reference-if-able", "separate-git-dir", "jobs",
        "upload-pack", "template", "shallow-since", "shallow-exclude", "server-option", "bundle-uri", "filter",
    )
)


def _w_git(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    base = ""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-C", "-c") and i + 1 < len(args):
            if args[i] == "-C":
                base = posixpath.join(base, args[i + 1])
            i += 2
        else:
            i += 1
    if args[i : i + 1] != ["clone"]:
        return
    _, ops = _opts(args[i + 1 :], "bcjou", _GIT_CLONE_LONG)
    if not ops:
        return
    if len(ops) >= 2:
        dest = ops[1]
    else:
        dest = _url_basename(ops[0].rstrip("/")) or ops[0].rstrip("/").rsplit(":", 1)[-1]
        dest = posixpath.basename(dest)
        if dest.endswith(".git"):
            dest = dest[:-4]
    yield (posixpath.join(base, dest) if base else dest), name


def _w_conda(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if args[:2] == ["env", "create"]:
        args = args[1:]
    if not args or args[0] not in ("create", "install", "update", "upgrade"):
        return
    opts, _ = _opts(args[1:], _CONDA_SHORT, _CONDA_LONG)
    for o, v in opts:
        if o in ("p", "prefix") and v:
            yield v, "conda"


def _w_dd(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    for a in args:
        if a.startswith("of="):
            yield a[3:], name


_CHMOD_MODE = _Uncompiled(r"-[rwxXst]+\Z")


def _w_chmod(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    # `chmod -x f`: a mode that looks like an option; the first operand is the mode/owner.
    have_mode = False
    for a in args:
        if a.startswith("--reference"):
            have_mode = True
        elif a.startswith("-") and not (name == "chmod" and not have_mode and _CHMOD_MODE.match(a)):
            continue
        elif not have_mode:
            have_mode = True
        else:
            yield a, name


def _w_sed(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    in_place = False
    norm = []
    for a in args:
        if a.startswith("--in-place"):
            in_place = True
            continue
        if a.startswith("-") and not a.startswith("--") and "i" in a:
            in_place = True  # GNU: everything after `i` in the bundle is the backup suffix
            a = a[: a.index("i")]
            if a == "-":
                continue
        norm.append(a)
    if not in_place:
        return
    opts, ops = _opts(norm, "efl", frozenset(("expression", "file", "line-length")))
    if not any(o in ("e", "f", "expression", "file") for o, _ in opts):
        ops = ops[1:]  # the first operand is the script
    for f in ops:
        yield f, name


_DECOMPRESS = {".gz": "", ".tgz": ".tar", ".bz2": "", ".xz": "", ".z": "", ".Z": "", ".zst": "", ".lz4": ""}


def _w_decompress(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    opts, ops = _opts(args, "S", frozenset(("suffix",)))
    flags = {o for o, _ in opts}
    if flags & {"c", "stdout", "to-stdout", "t", "test", "l", "list"}:
        return  # output goes to stdout (a redirect records it)
    if name in ("gzip", "xz", "bzip2", "zstd", "pigz") and not flags & {"d", "decompress"}:
        return
    for f in ops:
        root, ext = posixpath.splitext(f)
        if ext in _DECOMPRESS:
            yield root + _DECOMPRESS[ext], name


_AWS_FLAGS = frozenset(
    (
        "recursive", "quiet", "dryrun", "no-sign-request", "follow-symlinks", "no-follow-symlinks",
        "only-show-errors", "no-progress", "exact-timestamps", "delete", "size-only", "no-guess-mime-type",
        "force-glacier-transfer", "ignore-glacier-warnings", "no-verify-ssl", "debug", "no-paginate",
        "no-cli-pager", "no-overwrite",
    )
)


def _cloud_dest(ops: List[str]) -> Iterator[str]:
    if len(ops) >= 2:
        dest = ops[-1]
        if "://" not in dest and dest != "-":
            yield dest


def _w_aws(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    ops: List[str] = []
    i = 0
    while i < len(args):  # aws options take a value unless they are known flags
        a = args[i]
        i += 1
        if a.startswith("--"):
            if "=" not in a and a[2:] not in _AWS_FLAGS:
                i += 1
        else:
            ops.append(a)
    if ops[:1] == ["s3"] and ops[1:2] and ops[1] in ("cp", "mv", "sync"):
        for dest in _cloud_dest(ops[2:]):
            yield dest, name


def _w_gsutil(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if name == "gcloud":
        if args[:1] != ["storage"]:
            return
        args = args[1:]
    _, ops = _opts(args, "ohLjJsxyp", frozenset())
    if ops[:1] and ops[0] in ("cp", "mv", "rsync"):
        for dest in _cloud_dest(ops[1:]):
            yield dest, name


def _w_virtualenv(name: str, args: List[str], cwd: str) -> Iterator[Tuple[str, str]]:
    if name == "uv":
        if args[:1] != ["venv"]:
            return
        args = args[1:]
    _, ops = _opts(args, "p", frozenset(("python", "prompt")))
    for d in ops[:1] or ([".venv"] if name == "uv" else []):
        yield d, "venv"


_WRITERS = {
    "tee": _w_operands(),
    "mkdir": _w_operands("m", ("mode", "context")),
    "touch": _w_operands("drt", ("date", "reference", "time")),
    "truncate": _w_operands("sr", ("size", "reference")),
    "cp": _w_copy("tS", ("target-directory", "suffix")),
    "mv": _w_copy("tS", ("target-directory", "suffix")),
    "install": _w_copy("mogtSCZ", ("mode", "owner", "group", "target-directory", "suffix", "strip-program")),
    "ln": _w_copy("tS", ("target-directory", "suffix")),
    "rsync": _w_copy(
        "efTBM",
        (
            "exclude", "include", "filter", "exclude-from", "include-from", "files-from", "chown", "chmod",
            "rsh", "rsync-path", "temp-dir", "partial-dir", "log-file", "password-file", "backup-dir",
            "compare-dest", "copy-dest", "link-dest", "max-size", "min-size", "timeout", "bwlimit", "out-format",
        ),
    ),
    "curl": _w_curl,
    "wget": _w_wget,
    "tar": _w_tar,
    "unzip": _w_unzip,
    "git": _w_git,
    "conda": _w_conda,
    "mamba": _w_conda,
    "micromamba": _w_conda,
    "dd": _w_dd,
    "chmod": _w_chmod,
    "chown": _w_chmod,
    "chgrp": _w_chmod,
    "sed": _w_sed,
    "gunzip": _w_decompress,
    "unpigz": _w_decompress,
    "gzip": _w_decompress,
    "pigz": _w_decompress,
    "bunzip2": _w_decompress,
    "bzip2": _w_decompress,
    "unxz": _w_decompress,
    "xz": _w_decompress,
    "zstd": _w_decompress,
    "aws": _w_aws,
    "gsutil": _w_gsutil,
    "gcloud": _w_gsutil,
    "virtualenv": _w_virtualenv,
    "uv": _w_virtualenv,
}


# -- pip / conda front ends shared by written_paths and package_installs

_PIP_NAME = _Uncompiled(r"pip[0-9.]*\Z")
_PY_NAME = _Uncompiled(r"python[0-9.]*\Z")
_PIP_SHORT = "rcetifC"
_PIP_LONG = frozenset(
    (
        "requirement", "constraint", "editable", "target", "index-url", "find-links", "extra-index-url",
        "prefix", "root", "platform", "python-version", "implementation", "abi", "src", "upgrade-strategy",
        "progress-bar", "cache-dir", "trusted-host", "proxy", "retries", "timeout", "exists-action", "log",
        "global-option", "install-option", "config-settings", "no-binary", "only-binary", "report",
        "root-user-action", "python", "index", "index-strategy", "dest", "wheel-dir", "build",
    )
)


def _is_python(name: str) -> bool:
    return bool(_PY_NAME.match(name))


def _pip_args(words: Sequence[str]) -> Optional[List[str]]:
    """Arguments after `pip` for pip, pip3.11, `python -m pip`, `uv pip`; None otherwise."""
    name = _base(words[0])
    if not (name[:3] == "pip" or name[:6] == "python" or name == "uv"):
        return None
    if _PIP_NAME.match(name):
        return list(words[1:])
    if _is_python(name):
        i = 1
        while i < len(words) and words[i].startswith("-"):
            w = words[i]
            if w == "-m":
                return list(words[i + 2 :]) if list(words[i + 1 : i + 2]) == ["pip"] else None
            if w == "-mpip":
                return list(words[i + 1 :])
            i += 2 if w in ("-W", "-X", "-c") else 1
        return None
    if name == "uv" and list(words[1:2]) == ["pip"]:
        return list(words[2:])
    return None


def _pip_sub(args: List[str]) -> Tuple[str, List[str]]:
    """pip's subcommand and its arguments, skipping global options before it."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        a = args[i]
        takes = a.startswith("--") and "=" not in a and a[2:] in _PIP_LONG
        i += 2 if takes else 1
    if i >= len(args):
        return "", []
    return args[i], args[i + 1 :]


def _pip_writes(pip_args: List[str]) -> Iterator[Tuple[str, str]]:
    sub, rest = _pip_sub(pip_args)
    if sub not in ("install", "download", "wheel"):
        return
    opts, _ = _opts(rest, _PIP_SHORT + "dw", _PIP_LONG)
    for o, v in opts:
        if not v:
            continue
        if (sub == "install" and o in ("t", "target", "prefix", "root")) or (
            sub != "install" and o in ("d", "dest", "w", "wheel-dir")
        ):
            yield v, "pip"


# --------------------------------------------------------------------------- package installs

_CONDA_SHORT = "cnpfr"
_CONDA_LONG = frozenset(("channel", "name", "prefix", "file", "solver", "repodata-fn", "root-prefix", "platform", "subdir"))


def package_installs(script: str, env: Optional[Mapping[str, str]] = None) -> List[PackageInstall]:
    """Packages the script installs, in order, per package manager."""
    return _view(script, env, "/", "installs", _all_installs)


def _all_installs(records: Tuple[_Rec, ...], out: List[PackageInstall]) -> None:
    for rec in records:
        words = rec.cmd.words
        if words:
            out.extend(_installs(list(words), rec.cmd.line))


def _installs(words: List[str], line: int) -> List[PackageInstall]:
    name = _base(words[0])
    parser = _INSTALLERS.get(name)
    if parser is not None:
        return parser(words[1:], line)
    pip_args = _pip_args(words)
    if pip_args is not None:
        return _pip_installs(pip_args, line)
    return []


def _first_operand(args: List[str], short_arg: str, long_arg: frozenset) -> Tuple[str, List[str]]:
    """Subcommand (first operand) and the arguments after it, for `tool [opts] sub ...`."""
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-") or a == "-":
            return a, args[i + 1 :]
        if a.startswith("--"):
            i += 2 if ("=" not in a and a[2:] in long_arg) else 1
        else:
            i += 2 if (len(a) == 2 and a[1] in short_arg) else 1
    return "", []


_APT_LONG = frozenset(("option", "target-release", "default-release", "config-file"))
_APT_VERSION = _Uncompiled(r"[=/]")


def _apt(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "otc", _APT_LONG)
    if sub not in ("install", "reinstall"):
        return []
    _, ops = _opts(rest, "otc", _APT_LONG)
    out = []
    for spec in ops:
        if spec.endswith(".deb") or spec.startswith((".", "/")):
            pkg = spec
        else:
            pkg = _APT_VERSION.split(spec, 1)[0].split(":", 1)[0]
        if pkg:
            out.append(PackageInstall("apt", pkg, line, spec, None))
    return out


_YUM_LONG = frozenset(
    ("enablerepo", "disablerepo", "setopt", "releasever", "installroot", "exclude", "repo", "repoid", "config", "downloaddir", "destdir", "repofrompath")
)
_SPEC_CUT = _Uncompiled(r"\s*[=<>~@!]")


def _yum(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "cdex", _YUM_LONG)
    if sub not in ("install", "localinstall", "reinstall"):
        return []
    _, ops = _opts(rest, "cdex", _YUM_LONG)
    return [PackageInstall("yum", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


def _zypper(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, "Rc", frozenset(("root", "config", "reposd-dir", "cache-dir")))
    if sub not in ("install", "in"):
        return []
    _, ops = _opts(rest, "trp", frozenset(("type", "repo", "from")))
    return [PackageInstall("zypper", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


def _apk(args: List[str], line: int) -> List[PackageInstall]:
    long_arg = frozenset(("virtual", "repository", "root", "arch", "keys-dir", "repositories-file", "cache-dir"))
    sub, rest = _first_operand(args, "tXp", long_arg)
    if sub != "add":
        return []
    _, ops = _opts(rest, "tXp", long_arg)
    return [PackageInstall("apk", _SPEC_CUT.split(s, 1)[0] or s, line, s, None) for s in ops]


_CONDA_NAME = _Uncompiled(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def _conda(args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _first_operand(args, _CONDA_SHORT, _CONDA_LONG)
    if sub not in ("install", "create", "update", "upgrade"):
        return []
    opts, ops = _opts(rest, _CONDA_SHORT, _CONDA_LONG)
    channels = [v for o, v in opts if o in ("c", "channel") and v]
    out = []
    for spec in ops:
        chan, sep, bare = spec.rpartition("::")
        m = _CONDA_NAME.match(bare.strip())
        pkg = m.group() if m else bare
        index = " ".join(channels + ([chan] if sep and chan else [])) or None
        out.append(PackageInstall("conda", pkg, line, spec, index))
    return out


_PIP_REQ = _Uncompiled(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
_EGG = _Uncompiled(r"[#&]egg=([A-Za-z0-9._-]+)")
_ARCHIVE = _Uncompiled(r"(.+?)-\d[^/]*\.(?:whl|tar\.gz|tar\.bz2|zip|tgz)\Z")


def _pip_name(spec: str) -> str:
    """The distribution name in a requirement, URL, wheel/sdist path or VCS link."""
    head, at, url = spec.partition("@")
    if at and "://" in url and "://" not in head and _PIP_REQ.fullmatch(head.split("[")[0].strip() or "-"):
        return head.split("[")[0].strip()  # PEP 508 `name @ url`
    egg = _EGG.search(spec)
    if egg:
        return egg.group(1)
    if "/" in spec or spec.startswith(".") or spec.endswith((".whl", ".tar.gz", ".zip")):
        leaf = posixpath.basename(spec.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
        archive = _ARCHIVE.match(leaf)
        if archive:
            return archive.group(1)
        if spec.startswith(("git+", "hg+", "svn+", "bzr+")) or "://" in spec:
            leaf = leaf.split("@", 1)[0]
            return leaf[:-4] if leaf.endswith(".git") else leaf
        return spec  # a local directory: as written
    m = _PIP_REQ.match(spec)
    return m.group(1) if m else spec


def _pip_installs(pip_args: List[str], line: int) -> List[PackageInstall]:
    sub, rest = _pip_sub(pip_args)
    if sub != "install":
        return []
    opts, ops = _opts(rest, _PIP_SHORT, _PIP_LONG)
    indexes = [v for o, v in opts if o in ("i", "index-url", "extra-index-url", "f", "find-links", "index") and v]
    index = " ".join(indexes) or None
    specs = ops + [v for o, v in opts if o in ("e", "editable") and v]
    return [PackageInstall("pip", _pip_name(s), line, s, index) for s in specs if s]


def _dpkg(args: List[str], line: int) -> List[PackageInstall]:
    opts, ops = _opts(args, "", frozenset(("root", "admindir", "instdir")))
    if not any(o in ("i", "install") for o, _ in opts):
        return []
    return [PackageInstall("dpkg", s, line, s, None) for s in ops]


def _rpm(args: List[str], line: int) -> List[PackageInstall]:
    opts, ops = _opts(args, "", frozenset(("root", "dbpath", "prefix", "relocate", "excludepath")))
    if not any(o in ("i", "U", "F", "install", "upgrade", "freshen") for o, _ in opts):
        return []
    return [PackageInstall("rpm", s, line, s, None) for s in ops]


_INSTALLERS = {
    "apt-get": _apt,
    "apt": _apt,
    "aptitude": _apt,
    "yum": _yum,
    "dnf": _yum,
    "microdnf": _yum,
    "tdnf": _yum,
    "zypper": _zypper,
    "apk": _apk,
    "conda": _conda,
    "mamba": _conda,
    "micromamba": _conda,
    "dpkg": _dpkg,
    "rpm": _rpm,
}


# --------------------------------------------------------------------------- words, final command, signals


def mentioned_words(
    script: str, env: Optional[Mapping[str, str]] = None, pattern: Optional[str] = None, workdir: str = "/"
) -> List[Word]:
    """Every expanded word of every command and redirect target, optionally only those whose
    basename (URL query/fragment ignored) matches the glob `pattern` (case-sensitive)."""
    pattern = pattern if isinstance(pattern, str) else None
    return _view(script, env, workdir, ("words", pattern), lambda records, out: _words(records, pattern, out))


def _words(records: Tuple[_Rec, ...], pattern: Optional[str], out: List[Word]) -> None:
    for rec in records:
        if rec.wrapped:
            continue  # its words already came with the wrapper's command
        cmd = rec.cmd
        prog = _base(cmd.words[0]) if cmd.words else ""
        items = list(enumerate(cmd.words)) + [(-1, t) for _, t in cmd.redirects]
        for i, text in items:
            leaf = _url_basename(text) if "://" in text else _base(text.rstrip("/"))
            if pattern is None or fnmatchcase(leaf, pattern):
                out.append(Word(text, prog, i, cmd.line))


def final_command(script: str, env: Optional[Mapping[str, str]] = None, workdir: str = "/") -> Optional[Command]:
    """The last top-level command left in the foreground, as written (`exec` included in words).

    `via_exec` is True only when that command replaces the shell; a command inside a subshell
    or a pipeline reports False since the shell stays its parent. `cmd || handler` tails are
    ignored (they run only on failure); for `if`/`case` the last branch is taken.
    """
    try:
        analysis = _analyse(script, env, workdir)
        last: Dict[int, Command] = {}
        for rec in analysis.records:
            if not rec.wrapped and rec.cmd.words:
                last[id(rec.node)] = rec.cmd
        for node, forked in _tail_candidates(analysis.ast, False):
            cmd = last.get(id(node))
            if cmd is not None:
                return cmd._replace(via_exec=False) if forked else cmd
    except Exception:
        if _RAISE:
            raise
    return None


def _tail_candidates(lst: tuple, forked: bool) -> Iterator[Tuple[tuple, bool]]:
    """Simple-command nodes that could end the list, last first."""
    for andor, bg in reversed(lst[1]):
        if bg:
            continue
        pairs = andor[1]
        k = len(pairs) - 1
        while k > 0 and pairs[k][0] == "||":
            k -= 1
        cmds = pairs[k][1][1]
        if cmds:
            yield from _tail_of(cmds[-1], forked or len(cmds) > 1)


def _tail_of(node: tuple, forked: bool) -> Iterator[Tuple[tuple, bool]]:
    kind = node[0]
    if kind == "S":
        if node[2]:
            yield node, forked
    elif kind == "{":
        yield from _tail_candidates(node[1], forked)
    elif kind == "(":
        yield from _tail_candidates(node[1], True)
    elif kind == "if":
        branch = node[2] if node[2] is not None else (node[1][-1][1] if node[1] else None)
        if branch is not None:
            yield from _tail_candidates(branch, forked)
    elif kind == "case":
        for body in reversed(node[2]):
            yield from _tail_candidates(body, forked)
            break
    elif kind == "for":
        yield from _tail_candidates(node[3], forked)
    elif kind == "while":
        yield from _tail_candidates(node[2], forked)


_FORWARDED = frozenset(("INT", "TERM"))
_SIGNUMS = {"2": "INT", "15": "TERM", "1": "HUP", "3": "QUIT"}
_KILLERS = frozenset(("kill", "pkill", "killall"))


def forwards_signals(script: str, env: Optional[Mapping[str, str]] = None) -> bool:
    """True for the trap-and-wait pattern: a trap on INT or TERM whose action kills (or calls
    a function that kills) a child, plus a `wait` somewhere in the script."""
    try:
        records = _analyse(script, env, "/").records
        names = [_base(r.cmd.words[0]) for r in records if r.cmd.words and not r.wrapped]
        if "wait" not in names:
            return False
        for rec in records:
            words = rec.cmd.words
            if rec.wrapped or not words or words[0] != "trap":
                continue
            args = [a for a in words[1:] if a != "--"]
            if len(args) < 2 or args[0].startswith("-") and args[0] != "-":
                continue
            signals = {_SIGNUMS.get(s, s.upper()[3:] if s.upper().startswith("SIG") else s.upper()) for s in args[1:]}
            if signals & _FORWARDED and _action_kills(args[0], records, env):
                return True
    except Exception:
        if _RAISE:
            raise
    return False


def _action_kills(action: str, records: Tuple[_Rec, ...], env: Optional[Mapping[str, str]]) -> bool:
    called = {_base(c.words[0]) for c in commands(action, env)}
    if called & _KILLERS:
        return True
    return any(r.func in called and r.cmd.words and _base(r.cmd.words[0]) in _KILLERS for r in records)
