"""Dockerfile parser: a port of BuildKit v0.12.5 `frontend/dockerfile/parser` (`parser.Parse`).

It reproduces BuildKit's line handling (BOM, CRLF, parser directives, line continuations with
the active escape token, comments and blank lines inside continuations), its per-instruction
line parsers (JSON/exec form detection with Go's `encoding/json` semantics, ENV/LABEL word
splitting, builder flags), and heredocs (RUN/COPY/ADD, also behind ONBUILD). It raises
DockerfileSyntaxError exactly where BuildKit's parser returns an error, with BuildKit's message.

Where BuildKit works on bytes (builder flags, HEALTHCHECK's type word) the text is handled as
its UTF-8 bytes, so non-ASCII text there comes out the way BuildKit mangles it.
"""
from __future__ import annotations

import functools
import re
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from .lex import GO_SPACE, GO_SPACE_RUN, ExpansionError, go_quote, process
from .syntax import Directives, DockerfileSyntaxError, Heredoc, Instruction, ParsedDockerfile

__all__ = ["parse", "DockerfileSyntaxError"]

# bufio.MaxScanTokenSize: a longer line stops Go's scanner with ErrTooLong.
_MAX_LINE_BYTES = 64 * 1024

# Parser directives: BuildKit's regexp, with Go's \s (no \v) spelled out.
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
# reWhitespace: the separator for instruction words, FROM/COPY lists and old-style ENV.
_WS = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_WORD = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
# Bytes that unicode.IsSpace(rune(b)) accepts, for BuildKit's byte-wise loops (as latin-1 text).
# Patterns needed only on rare paths are compiled there, through re's own cache, to keep the
# import cheap.
_BYTE_SPACE = frozenset("\t\n\v\f\r \x85\xa0")

_ERR_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"
_HEREDOC_INSTRUCTIONS = frozenset(("add", "copy", "run"))
_UINT_MAX = 2**64 - 1


class _LineError(Exception):
    """An error from a line parser; the main loop adds the location."""


# A line parser returns (value items, json attribute, inner ONBUILD instruction).
_Parsed = Tuple[Tuple[str, ...], bool, Optional[Instruction]]


def _go_lower(word: str) -> str:
    """strings.ToLower, for matching instruction names (Python maps U+0130 to two runes)."""
    if word.isascii():
        return word.lower()
    return word.replace("\u0130", "i").lower()


def _to_bytes(text: str) -> str:
    """The UTF-8 bytes of `text`, one char per byte, for BuildKit's byte-indexed loops."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _from_bytes(raw: str) -> str:
    return raw.encode("latin-1").decode("utf-8", "surrogateescape")


# --- JSON (Go encoding/json into []interface{}) -------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(name)  # NaN / Infinity are not JSON to Go


def _go_number(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        # strconv.ParseFloat overflows: Unmarshal returns an UnmarshalTypeError.
        raise ValueError(text)
    return value


_INF = float("inf")
_JSON_TOKEN = (
    r'[ \t\n\r]*(?:(?P<s>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")'
    r"|(?P<n>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<l>true|false|null)|(?P<p>[\[\]{},:]))"
)


def _deep_json_valid(text: str) -> bool:
    """Iterative check of the leading JSON value, for nesting deeper than Python's json allows.

    Go accepts up to 10000 levels; numbers that overflow float64 make Unmarshal fail too.
    """
    token_re = re.compile(_JSON_TOKEN)
    stack: List[str] = []
    pos = 0
    expect = "value"  # value | value_or_close | comma_or_close | key | key_or_close | colon
    while True:
        m = token_re.match(text, pos)
        if m is None:
            return False
        pos = m.end()
        kind = m.lastgroup or ""
        tok = m.group(kind or 0)
        if expect in ("value", "value_or_close"):
            if tok == "]" and expect == "value_or_close":
                stack.pop()
            elif tok in ("[", "{"):
                stack.append(tok)
                if len(stack) > 10000:
                    return False
                expect = "value_or_close" if tok == "[" else "key_or_close"
                continue
            elif kind == "n":
                if float(tok) in (_INF, -_INF):
                    return False
            elif kind not in ("s", "l"):
                return False
        elif expect in ("key", "key_or_close"):
            if tok == "}" and expect == "key_or_close":
                stack.pop()
            elif kind == "s":
                expect = "colon"
                continue
            else:
                return False
        elif expect == "colon":
            if tok != ":":
                return False
            expect = "value"
            continue
        else:  # comma_or_close
            if tok == ",":
                expect = "value" if stack[-1] == "[" else "key"
                continue
            if tok != ("]" if stack[-1] == "[" else "}"):
                return False
            stack.pop()
        if not stack:
            return True  # like Decoder.Decode, ignore whatever follows the array
        expect = "comma_or_close"


def _fix_surrogates(text: str) -> str:
    """Go decodes a lone UTF-16 surrogate escape (and an invalid UTF-8 byte) as U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


_decoder: Optional[Callable[[str], Tuple[object, int]]] = None


def _raw_decode(text: str) -> object:
    global _decoder
    if _decoder is None:
        import json  # deferred: only exec-form instructions pay for it

        _decoder = json.JSONDecoder(
            parse_constant=_reject_constant, parse_float=_go_number, parse_int=_go_number
        ).raw_decode
    return _decoder(text)[0]


def _parse_json(rest: str) -> Optional[Tuple[str, ...]]:
    """parseJSON: the items of a JSON array of strings, or None when not a JSON array.

    Go's json.Decoder grammar: no NaN/Infinity, no float64 overflow, 10000 levels deep. Raises
    _LineError (BuildKit's error) for a valid array holding a non-string item.
    """
    if not rest.startswith("["):
        if not rest or rest[0] not in GO_SPACE:
            return None
        rest = rest.lstrip(GO_SPACE)
        if not rest.startswith("["):
            return None
    try:
        # BuildKit uses json.NewDecoder(...).Decode: the first value counts, trailing text is
        # never looked at (`["a"] x` is exec form).
        data = _raw_decode(rest)
    except RecursionError:
        if _deep_json_valid(rest):
            raise _LineError(_ERR_NOT_STRING_ARRAY) from None
        return None
    except ValueError:
        return None
    for item in data:  # type: ignore[attr-defined]
        if item.__class__ is not str:
            raise _LineError(_ERR_NOT_STRING_ARRAY)
    return tuple(item if item.isascii() else _fix_surrogates(item) for item in data)  # type: ignore[attr-defined]


# --- line parsers (line_parsers.go) --------------------------------------------------------


def _words_regex(escape: str, dangling: bool) -> "re.Pattern[str]":
    """One parseWords word: plain runs, escape pairs and quoted runs, quotes kept.

    Inside single quotes the escape token is literal. An escape token that is the very last
    character of the text is dropped by BuildKit, whether in a word or in double quotes; the
    `dangling` variant (for text ending in the escape token) marks it with groups d / dq.
    """
    e = re.escape(escape)
    pattern = r"(?:[^%(sp)s'\"%(e)s]+|%(e)s.|'[^']*'?|\"(?:%(e)s.|[^\"%(e)s])*\"?)+"
    if dangling:
        pattern = r"(?:[^%(sp)s'\"%(e)s]+|%(e)s(?:.|(?P<d>\Z))|'[^']*'?|\"(?:%(e)s.|[^\"%(e)s])*(?:\"|(?P<dq>%(e)s)?\Z))+"
    return re.compile(pattern % {"sp": re.escape(GO_SPACE), "e": e}, re.S)


_WORDS: Dict[Tuple[str, bool], "re.Pattern[str]"] = {}


def _parse_words(rest: str, escape: str) -> List[str]:
    """parseWords: split on unicode spaces, keeping quotes and escapes in the words."""
    if escape not in rest and "'" not in rest and '"' not in rest:
        return [word for word in GO_SPACE_RUN.split(rest) if word]
    dangling = rest.endswith(escape)
    pattern = _WORDS.get((escape, dangling))
    if pattern is None:
        pattern = _WORDS[escape, dangling] = _words_regex(escape, dangling)
    if not dangling:
        return pattern.findall(rest)
    words = []
    for m in pattern.finditer(rest):
        word = m.group()
        if m.group("d") is not None or m.group("dq") is not None:
            word = word[:-1]
            if not word:
                continue  # a lone dangling escape makes no word
        words.append(word)
    return words


def _parse_name_val(rest: str, key: str, escape: str) -> _Parsed:
    """parseNameVal (ENV, LABEL): `KEY name value` or `KEY a=b c=d` (quotes kept)."""
    words = _parse_words(rest, escape)
    if not words:
        return (), False, None
    if "=" not in words[0]:
        parts = _WS.split(rest, 1)
        if len(parts) < 2:
            raise _LineError("%s must have two arguments" % key)
        return (parts[0], parts[1]), False, None
    value: List[str] = []
    for word in words:
        if "=" not in word:
            raise _LineError("Syntax error - can't find = in %s. Must be of the form: name=value" % go_quote(word))
        name, _, val = word.partition("=")
        value.append(name)
        value.append(val)
    return tuple(value), False, None


def _parse_env(rest: str, escape: str) -> _Parsed:
    return _parse_name_val(rest, "ENV", escape)


def _parse_label(rest: str, escape: str) -> _Parsed:
    return _parse_name_val(rest, "LABEL", escape)


def _parse_name_or_name_val(rest: str, escape: str) -> _Parsed:
    """parseNameOrNameVal (ARG): the words, quotes kept."""
    return tuple(_parse_words(rest, escape)), False, None


def _parse_strings_whitespace_delimited(rest: str, escape: str) -> _Parsed:
    if rest == "":
        return (), False, None
    return tuple(_WS.split(rest)), False, None


def _parse_string(rest: str, escape: str) -> _Parsed:
    if rest == "":
        return (), False, None
    return (rest,), False, None


def _parse_maybe_json(rest: str, escape: str) -> _Parsed:
    """parseMaybeJSON (RUN, CMD, ENTRYPOINT, SHELL): exec form, else the text as one item."""
    if rest == "":
        return (), False, None
    items = _parse_json(rest)
    if items is None:
        return (rest,), False, None
    return items, True, None


def _parse_maybe_json_to_list(rest: str, escape: str) -> _Parsed:
    """parseMaybeJSONToList (ADD, COPY, VOLUME): exec form, else whitespace-separated words."""
    items = _parse_json(rest)
    if items is None:
        return _parse_strings_whitespace_delimited(rest, escape)
    return items, True, None


def _parse_health_config(rest: str, escape: str) -> _Parsed:
    """parseHealthConfig: the type word (CMD/NONE) then parseMaybeJSON; BuildKit scans bytes."""
    raw = rest if rest.isascii() else _to_bytes(rest)
    sep = 0
    end = len(raw)
    while sep < end and raw[sep] not in _BYTE_SPACE:
        sep += 1
    if sep == 0:
        return (), False, None
    nxt = sep
    while nxt < end and raw[nxt] in _BYTE_SPACE:
        nxt += 1
    typ, cmd = raw[:sep], raw[nxt:]
    if raw is not rest:
        typ, cmd = _from_bytes(typ), _from_bytes(cmd)
    value, is_json, _ = _parse_maybe_json(cmd, escape)
    return (typ,) + value, is_json, None


def _parse_ignore(rest: str, escape: str) -> _Parsed:
    # Unknown instructions get one empty child node in BuildKit.
    return ("",), False, None


def _parse_sub_command(rest: str, escape: str) -> _Parsed:
    """parseSubCommand (ONBUILD): the rest is parsed as an instruction of its own."""
    if rest == "":
        return (), False, None
    sub = _node_from_line(rest, escape, 0, 0)
    # BuildKit's chain for ONBUILD is one empty node whose child is the inner instruction.
    return ("",), False, sub


_DISPATCH: Dict[str, Callable[[str, str], _Parsed]] = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_env,
    "expose": _parse_strings_whitespace_delimited,
    "from": _parse_strings_whitespace_delimited,
    "healthcheck": _parse_health_config,
    "label": _parse_label,
    "maintainer": _parse_string,
    "onbuild": _parse_sub_command,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}


# --- split_command.go ----------------------------------------------------------------------


def _extract_builder_flags(line: str) -> Tuple[str, Tuple[str, ...]]:
    """extractBuilderFlags: leading `--flag[=value]` words; returns (rest, flags).

    BuildKit walks the bytes (rune(line[pos])), so this works on the UTF-8 bytes too: a
    non-ASCII flag value comes out as its bytes read as latin-1, exactly like BuildKit's.
    """
    if not line.startswith("--"):
        # The separator regexp already ate the spaces before the first word.
        return line, ()
    if line.isascii():
        simple = _simple_flags(line)
        if simple is not None:
            return simple
        rest, flags = _flags_state_machine(line)
        return rest, tuple(flags)
    rest, flags = _flags_state_machine(_to_bytes(line))
    return _from_bytes(rest), tuple(flags)


_FLAG_WORD = re.compile(r"--[^\t\n\v\f\r '\"\\]*")
_ASCII_SPACES = re.compile(r"[\t\n\v\f\r ]*")


def _simple_flags(line: str) -> Optional[Tuple[str, Tuple[str, ...]]]:
    """The common case of extractBuilderFlags: flags without quotes or backslashes.

    Returns None when a flag word needs the full state machine.
    """
    flags: List[str] = []
    pos = 0
    end = len(line)
    while True:
        if not line.startswith("--", pos):
            return line[pos:], tuple(flags)
        stop = _FLAG_WORD.match(line, pos).end()  # type: ignore[union-attr]
        if stop < end and line[stop] not in "\t\n\v\f\r ":
            return None
        word = line[pos:stop]
        if word == "--":
            return line[stop:], tuple(flags)
        flags.append(word)
        pos = _ASCII_SPACES.match(line, stop).end()  # type: ignore[union-attr]


def _flags_state_machine(raw: str) -> Tuple[str, List[str]]:
    spaces = _BYTE_SPACE
    words: List[str] = []
    word: List[str] = []
    phase = 0  # 0: in spaces, 1: in word, 2: in quote
    quote = ""
    blank_ok = False
    end = len(raw)
    pos = 0
    while True:
        if phase == 0:
            if pos == end:
                break
            ch = raw[pos]
            if ch in spaces:
                pos += 1
                continue
            # Only a word starting with "--" is a flag; v0.12.5 has no `--flag value` form.
            if ch != "-" or pos + 1 == end or raw[pos + 1] != "-":
                return raw[pos:], words
            phase = 1
        if pos == end:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        ch = raw[pos]
        if phase == 1:
            if ch in spaces:
                phase = 0
                text = "".join(word)
                if text == "--":
                    return raw[pos:], words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch == "'" or ch == '"':
                quote = ch
                blank_ok = True
                phase = 2
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == end:
                    pos += 1
                    continue
                pos += 1
                ch = raw[pos]
            word.append(ch)
            pos += 1
            continue
        # phase 2: inside quotes
        if ch == quote:
            phase = 1
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == end:
                phase = 1
                pos += 1
                continue
            pos += 1
            ch = raw[pos]
        word.append(ch)
        pos += 1
    return "", words


_COMMAND = re.compile(r"([^\t\v\f\r ]*)(?:[\t\v\f\r ]+(.*))?", re.S)


# Instruction name (lower case) -> (line parser, keyword).
_TABLE = {name: (fn, name.upper()) for name, fn in _DISPATCH.items()}


def _node_from_line(line: str, escape: str, start: int, end: int) -> Instruction:
    """newNodeFromLine: split the line and dispatch to the instruction's line parser."""
    # splitCommand, inlined: this runs once per instruction.
    cmd, rest = _COMMAND.match(line.strip(GO_SPACE)).groups()  # type: ignore[union-attr]
    if rest is None:
        flags: Tuple[str, ...] = ()
        args = ""
    elif rest.startswith("--"):
        args, flags = _extract_builder_flags(rest)
        args = args.strip(GO_SPACE)
    else:
        flags = ()
        args = rest.strip(GO_SPACE)
    entry = _TABLE.get(cmd.lower() if cmd.isascii() else _go_lower(cmd))
    if entry is None:
        value, is_json, sub = _parse_ignore(args, escape)
        keyword = cmd.upper()
    else:
        value, is_json, sub = entry[0](args, escape)
        keyword = entry[1]
    if sub is not None:
        sub = _relocate(sub, start, end)
    return _new_instruction(Instruction, (keyword, line, start, end, flags, value, is_json, args, (), sub))


_new_instruction = tuple.__new__


def _relocate(node: Instruction, start: int, end: int) -> Instruction:
    """Give an ONBUILD's inner instruction(s) the lines of the ONBUILD (BuildKit leaves 0)."""
    sub = node.sub
    if sub is not None:
        sub = _relocate(sub, start, end)
    return node._replace(start_line=start, end_line=end, sub=sub)


# --- heredocs (parser.go) ------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _heredoc_from_word(word: str) -> Optional[Heredoc]:
    """heredocFromMatch: a heredoc when the lexed word is `[fd]<<[-]WORD`.

    Pure, and the same few words (`<<EOF`) recur in every file: hence the cache.
    """
    m = _HEREDOC_WORD.match(word)
    if m is None:
        return None
    digits, dash, rest = m.groups()
    if not rest:
        return None
    # BuildKit lexes the terminator with and without quote removal; a quote anywhere in it
    # disables expansion of the body.
    _, words = process(rest, {}, "\\", skip_unset=True)
    if len(words) != 1:
        return None
    _, raw_words = process(rest, {}, "\\", raw_quotes=True, skip_unset=True)
    if len(raw_words) != len(words):
        raise ExpansionError("internal lexing of heredoc produced inconsistent results: " + rest)
    name = words[0]
    raw = raw_words[0]
    expand = name.count("'") + name.count('"') == raw.count("'") + raw.count('"')
    fd = min(int(digits), _UINT_MAX) if digits else 0
    return Heredoc(name, "", fd, dash == "-", expand)


def _heredocs_from_line(line: str) -> List[Heredoc]:
    """heredocsFromLine: lex the whole line (always with `\\` as escape), keep heredoc words.

    BuildKit ignores lexing errors here: the line then simply has no heredocs.
    """
    try:
        _, words = process(line, {}, "\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
    except ExpansionError:
        return []
    docs: List[Heredoc] = []
    for word in words:
        if "<<" in word:
            doc = _heredoc_from_word(word)
            if doc is not None:
                docs.append(doc)
    return docs


def _can_contain_heredoc(node: Instruction) -> bool:
    if node.keyword == "ONBUILD" and node.sub is not None:
        node = node.sub
    return _go_lower(node.keyword) in _HEREDOC_INSTRUCTIONS and not node.json


# --- Parse ---------------------------------------------------------------------------------


def _chomp(content: str) -> str:
    """ChompHeredocContent: drop the leading tabs of every line (for `<<-`)."""
    return re.sub(r"(?m)^\t+", "", content)


def _split_lines(text: str) -> Tuple[List[str], bool]:
    """bufio.Scanner with scanLines: lines split on \\n only; True when the last had one."""
    pieces = text.split("\n")
    if pieces[-1] == "":
        pieces.pop()
        return pieces, True
    return pieces, False


def _first_too_long(pieces: List[str]) -> int:
    """Index of the first line Go's scanner cannot hold (ErrTooLong), or -1."""
    for i, piece in enumerate(pieces):
        # UTF-8 takes at most 4 bytes a char, so only long lines need encoding.
        if len(piece) * 4 >= _MAX_LINE_BYTES and len(piece.encode("utf-8", "surrogateescape")) >= _MAX_LINE_BYTES:
            return i
    return -1


def _trim_continuation(token: str, escape: str) -> Tuple[str, bool]:
    """trimContinuationCharacter: BuildKit's `([^E])E[ \\t]*$|^E[ \\t]*$` with E the escape.

    Returns (line, is_end_of_line). An escape token preceded by another one does not continue.
    """
    body = token.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], False
    return token, True


class _State:
    """The parser directives seen so far, and whether more may follow."""

    __slots__ = ("escape", "syntax", "escape_line", "seen", "done")

    def __init__(self) -> None:
        self.escape = "\\"
        self.syntax: Optional[str] = None
        self.escape_line = 0
        self.seen: Set[str] = set()
        self.done = False

    def directive(self, token: str, lineno: int) -> None:
        """possibleParserDirective: directives only until the first line that is not one."""
        m = _DIRECTIVE.match(token)
        if m is None:
            self.done = True
            return
        key = m.group(1).lower()
        if key != "escape" and key != "syntax":
            self.done = True
            return
        if key in self.seen:
            raise DockerfileSyntaxError("only one %s parser directive can be used" % key, lineno)
        self.seen.add(key)
        value = m.group(2)
        if key == "escape":
            if value != "`" and value != "\\":
                raise DockerfileSyntaxError("invalid escape token '%s' does not match ` or \\" % value, lineno)
            self.escape = value
            self.escape_line = lineno
        else:
            self.syntax = value


def parse(text: str) -> ParsedDockerfile:
    """Parse a Dockerfile like BuildKit v0.12.5's `parser.Parse`.

    Raises DockerfileSyntaxError with BuildKit's message where BuildKit errors. Its `line` is
    the 1-based line of the problem (for a directive error BuildKit itself reports the
    0-based line number; we report the real line).
    """
    if text.startswith("\ufeff"):
        text = text[1:]  # discardBOM on the first line
    pieces, final_newline = _split_lines(text)
    if "\r" in text:
        # One \r before each line end is part of the ending, as for BuildKit's trimNewline.
        source = text.replace("\r\n", "\n").split("\n")
        if final_newline:
            source.pop()
        elif source[-1].endswith("\r"):
            source[-1] = source[-1][:-1]
        lines = tuple(source)
    else:
        lines = tuple(pieces)
    too_long = -1
    if len(text) * 4 >= _MAX_LINE_BYTES:
        too_long = _first_too_long(pieces)
        if too_long >= 0:
            # Go's scanner stops before that line; what precedes it still parses.
            del pieces[too_long:]
            final_newline = True
    state = _State()
    instructions: List[Instruction] = []
    append = instructions.append
    index = 0  # the 1-based number of the last line read: BuildKit's currentLine
    escape = state.escape
    tails = frozenset((escape, " ", "\t"))
    directives = True
    # One iterator feeds the instruction lines, their continuations and heredoc bodies.
    rows = enumerate(pieces, 1)
    crlf = "\r" in text
    for index, piece in rows:
        token = piece.rstrip("\r").lstrip(GO_SPACE) if crlf else piece.lstrip(GO_SPACE)
        if directives:
            state.directive(token, index)
            directives = not state.done
            if escape != state.escape:
                escape = state.escape
                tails = frozenset((escape, " ", "\t"))
        if not token or token[0] == "#":
            continue  # comments (directives included) and blank lines are trimmed to nothing
        start = index
        if token[-1] in tails:
            line, end_of_line = _trim_continuation(token, escape)
        else:
            line, end_of_line = token, True
        if not end_of_line:
            chunks = [line]
            for index, piece in rows:
                stripped = piece.lstrip(GO_SPACE)
                if not stripped or stripped[0] == "#":
                    continue  # comment and blank lines inside a continuation are skipped
                token, end_of_line = _trim_continuation(piece.rstrip("\r"), escape)
                chunks.append(token)
                if end_of_line:
                    break
            line = "".join(chunks)
        try:
            node = _node_from_line(line, escape, start, index)
        except _LineError as exc:
            raise DockerfileSyntaxError(str(exc), start, index) from None
        if "<<" in line and _can_contain_heredoc(node):
            index = _read_heredocs(node, line, rows, index, len(pieces), final_newline, append)
        else:
            append(node)
    if not instructions:
        raise DockerfileSyntaxError("file with no instructions", max(index, 1))
    if too_long >= 0:
        raise DockerfileSyntaxError(
            "dockerfile line greater than max allowed size of %d" % (_MAX_LINE_BYTES - 1), too_long + 1
        )
    return ParsedDockerfile(
        tuple(instructions),
        Directives(state.escape, state.syntax, state.escape_line),
        lines,
    )


def _read_heredocs(
    node: Instruction,
    line: str,
    rows: Iterator[Tuple[int, str]],
    index: int,
    count: int,
    final_newline: bool,
    append: Callable[[Instruction], None],
) -> int:
    """Read each heredoc body from `rows`; returns the number of the last line read."""
    start = node.start_line
    try:
        docs = _heredocs_from_line(line)
    except ExpansionError as exc:
        raise DockerfileSyntaxError(exc.message, start, index) from None
    if not docs:
        append(node)
        return index
    found: List[Heredoc] = []
    for doc in docs:
        name = doc.name
        body: List[str] = []
        terminated = False
        for index, piece in rows:
            candidate = piece.rstrip("\r")
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                terminated = True
                break
            # Every line but the file's last keeps its newline (bufio's scanLines).
            body.append(piece + "\n" if index < count or final_newline else piece)
        if not terminated:
            raise DockerfileSyntaxError("unterminated heredoc", start, index)
        content = "".join(body)
        if doc.chomp:
            content = _chomp(content)
        found.append(doc._replace(content=content))
    sub = node.sub
    if sub is not None:
        sub = _relocate(sub, start, index)
    append(node._replace(end_line=index, heredocs=tuple(found), sub=sub))
    return index
