"""Lexing shell text into tokens and words (quotes, expansions, heredocs), and the lazily
compiled module-level regexes of the whole package (`_Uncompiled`)."""
from __future__ import annotations

import re
import sys
from bisect import bisect_left
from typing import Any, List, Optional, Tuple, Union


# --------------------------------------------------------------------------- lexer


class _Uncompiled:
    """A module-level regex of this package, compiled on its first use: importing the package
    (the CLI imports every check) must not pay for ~30 compilations, nor a file whose RUN lines
    need five of them for the rest. The first attribute access compiles it and puts the compiled
    pattern in place of this object in the globals of every module of the package (the modules
    that import one by name too), so later uses cost nothing extra."""

    __slots__ = ("pattern", "flags")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(self.pattern, self.flags)
        package = __name__.rpartition(".")[0]
        for module_name, module in list(sys.modules.items()):
            if module is None or not (module_name == package or module_name.startswith(package + ".")):
                continue
            namespace = vars(module)
            for key, value in list(namespace.items()):
                if value is self:
                    namespace[key] = compiled
        return getattr(compiled, name)


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


# Lexer and parser call each other ($(...) bodies are parsed while lexing): this import comes last,
# so import this module before parser.py (evaluate.py, which the package loads, does).
from .parser import _Parser, _parse  # noqa: E402
