"""Docker's word expansion: a port of BuildKit v0.12.5 `frontend/dockerfile/shell/lex.go`.

BuildKit expands `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
`${VAR:?msg}` and `${VAR?msg}`, honours single and double quotes and the escape token, and
splits the result into words *after* expansion (ProcessWords). v0.12.5 has no pattern forms
(`${VAR#p}`, `${VAR%p}`, `${VAR/p/r}`): they are an "unsupported modifier" error there, and here.

The lexer is also used by the parser to find heredoc words (`parser.heredocsFromLine`), which
runs it with RawQuotes / RawEscapes / SkipUnsetEnv; `process` exposes those switches.
"""
from __future__ import annotations

import re
from typing import List, Mapping, Optional, Tuple

__all__ = ["ExpansionError", "expand", "expand_words", "process", "GO_SPACE", "GO_SPACE_RUN"]

# Go's unicode.IsSpace; Python's str.isspace() differs (it also accepts \x1c-\x1f).
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_SET = frozenset(GO_SPACE)
GO_SPACE_RUN = re.compile("[" + re.escape(GO_SPACE) + "]+")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# Characters that make the lexer leave its trivial path (plus the escape token, checked apart).
_SPECIAL = re.compile(r"[$'\"]")


class ExpansionError(ValueError):
    """BuildKit's lexer rejects the word; `message` is BuildKit's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _LexError(Exception):
    """An error raised inside the lexer, before BuildKit's `failed to process %q` wrapping."""


def go_quote(s: str) -> str:
    """Approximate Go's strconv.Quote (used by `%q` in BuildKit's error messages)."""
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        else:
            code = ord(ch)
            if code < 0x80:
                out.append("\\x%02x" % code)
            elif code < 0x10000:
                out.append("\\u%04x" % code)
            else:
                out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class _Words:
    """BuildKit's wordsStruct: splits on unicode spaces, except for raw (quoted/escaped) text.

    Note the quirk kept from Go: a word that is only `""` sets inWord but stays empty, so it
    is never emitted (`getWords` only appends non-empty words).
    """

    __slots__ = ("word", "words", "in_word")

    def __init__(self) -> None:
        self.word = ""
        self.words: List[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in _GO_SPACE_SET:
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.word += ch
            self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get_words(self) -> List[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


# BuildKit has no limit; past this sm-lint reports an expansion failure (SM100) instead of
# exhausting Python's recursion limit.
MAX_NESTING = 100


class _Shell:
    """One run of BuildKit's shellWord over `src` (a text/scanner over runes)."""

    __slots__ = ("src", "pos", "end", "env", "escape", "raw_quotes", "raw_escapes", "skip_unset", "depth")

    def __init__(
        self,
        src: str,
        env: Mapping[str, str],
        escape: str,
        raw_quotes: bool,
        raw_escapes: bool,
        skip_unset: bool,
    ) -> None:
        self.src = src
        # text/scanner silently drops a byte-order mark at the very start of its input.
        self.pos = 1 if src.startswith("\ufeff") else 0
        self.end = len(src)
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.depth = 0  # ${...} nesting: each level is two Python frames (Go's stack just grows)

    def _peek(self) -> Optional[str]:
        return self.src[self.pos] if self.pos < self.end else None

    def _next(self) -> Optional[str]:
        if self.pos < self.end:
            self.pos += 1
            return self.src[self.pos - 1]
        return None

    def stop_on(self, stop: Optional[str]) -> Tuple[str, List[str]]:
        """processStopOn: consume up to `stop` (None: end of input)."""
        src = self.src
        end = self.end
        escape = self.escape
        result: List[str] = []
        words = _Words()
        while self.pos < end:
            ch = src[self.pos]
            if ch == stop:
                self.pos += 1
                return "".join(result), words.get_words()
            if ch == "$":
                tmp = self._dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "'":
                tmp = self._single_quote()
                result.append(tmp)
                words.add_raw(tmp)
            elif ch == '"':
                tmp = self._double_quote()
                result.append(tmp)
                words.add_raw(tmp)
            else:
                self.pos += 1
                if ch == escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    if self.pos >= end:
                        break  # an escape token at the end of the word is dropped
                    ch = src[self.pos]
                    self.pos += 1
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop is not None:
            raise _LexError("unexpected end of statement while looking for matching " + stop)
        return "".join(result), words.get_words()

    def _single_quote(self) -> str:
        src = self.src
        start = self.pos + 1
        close = src.find("'", start, self.end)
        if close < 0:
            raise _LexError("unexpected end of statement while looking for matching single-quote")
        self.pos = close + 1
        if self.raw_quotes:
            return src[start - 1 : close + 1]
        return src[start:close]

    def _double_quote(self) -> str:
        src = self.src
        end = self.end
        escape = self.escape
        result: List[str] = []
        self.pos += 1
        if self.raw_quotes:
            result.append('"')
        while True:
            if self.pos >= end:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            ch = src[self.pos]
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if ch == "$":
                result.append(self._dollar())
                continue
            self.pos += 1
            if ch == escape:
                if self.raw_escapes:
                    result.append(ch)
                if self.pos >= end:
                    continue  # loops back into the "missing double-quote" error
                nxt = src[self.pos]
                # Only ", $ and the escape token itself are escapable inside double quotes.
                if nxt == '"' or nxt == "$" or nxt == escape:
                    ch = nxt
                    self.pos += 1
            result.append(ch)

    def _name(self) -> str:
        """processName: a positional run of digits, one special parameter, or [letters digits _]."""
        src = self.src
        end = self.end
        start = self.pos
        if start >= end:
            return ""
        ch = src[start]
        if ch.isdecimal():
            pos = start + 1
            while pos < end and src[pos].isdecimal():
                pos += 1
            self.pos = pos
            return src[start:pos]
        if ch in _SPECIAL_PARAMS:
            self.pos = start + 1
            return ch
        pos = start
        while pos < end:
            ch = src[pos]
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            pos += 1
        self.pos = pos
        return src[start:pos]

    def _lookup(self, name: str) -> Tuple[str, bool]:
        env = self.env
        if name in env:
            return env[name], True
        return "", False

    def _dollar(self) -> str:
        """processDollar, as in v0.12.5 (the `:`-optional -, + and ? forms only)."""
        self.pos += 1  # the '$'
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.pos += 1  # the '{'
        first = self._peek()
        if first is None:
            raise _LexError("syntax error: missing '}'")
        if first in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        # Go's string(rune(EOF)) is U+FFFD.
        chs = "\ufffd" if ch is None else ch
        if ch == "}":
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "${%s}" % name
            return value
        if ch not in (":", "+", "-", "?"):
            raise _LexError("unsupported modifier (%s) in substitution" % chs)
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self._next()
            chs += "\ufffd" if ch is None else ch
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _LexError(f"${{...}} nested deeper than {MAX_NESTING} levels: sm-lint does not expand it")
        try:
            word, _ = self.stop_on("}")
            self.depth -= 1
        except _LexError:
            if self.pos >= self.end:
                raise _LexError("syntax error: missing '}'") from None
            raise
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${%s%s%s}" % (name, chs, word)
        if ch == "-":
            if not found or (null_is_unset and value == ""):
                return word
            return value
        if ch == "+":
            if not found or (null_is_unset and value == ""):
                return ""
            return word
        if ch == "?":
            if not found:
                raise _LexError("%s: %s" % (name, word or "is not allowed to be unset"))
            if null_is_unset and value == "":
                raise _LexError("%s: %s" % (name, word or "is not allowed to be empty"))
            return value
        raise _LexError("unsupported modifier (%s) in substitution" % chs)


def process(
    word: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
    skip_unset: bool = False,
) -> Tuple[str, List[str]]:
    """BuildKit's Lex.process: the expanded word and its words; raises ExpansionError.

    The error message is BuildKit's: `failed to process "<word>": <reason>`.
    """
    if escape not in word and _SPECIAL.search(word) is None and not word.startswith("\ufeff"):
        # Nothing to expand or unquote: the word is itself, split on unicode spaces.
        return word, [w for w in GO_SPACE_RUN.split(word) if w]
    shell = _Shell(word, env, escape, raw_quotes, raw_escapes, skip_unset)
    try:
        return shell.stop_on(None)
    except _LexError as exc:
        raise ExpansionError("failed to process %s: %s" % (go_quote(word), exc)) from None


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """ProcessWord: expand variables, remove quotes and escapes; unset variables become ''."""
    return process(word, env, escape)[0]


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> List[str]:
    """ProcessWords: expand like `expand`, then split into words on unquoted whitespace.

    Whitespace produced by a variable's value splits words too (BuildKit feeds `$` results
    through addString), while quoted or escaped whitespace does not.
    """
    return process(text, env, escape)[1]
