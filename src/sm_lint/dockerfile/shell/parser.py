"""A forgiving recursive-descent parser from the lexer's tokens to the tuple AST."""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

from .lexer import (
    _E, _MAX_DEPTH, _N, _O, _R, _W, _X, WordRep, _Lexer, _make_word, _raw_text, _Uncompiled,
)


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
    lx = _Lexer(script, None, base, depth)
    return _Parser(lx.run()[0], lx).parse_program()
