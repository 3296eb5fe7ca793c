"""Evaluating the AST with a known environment and working directory (variables, cd, branches,
loops, wrappers such as sudo or `sh -c`), one record per simple command, and the analysis cache."""
from __future__ import annotations

import posixpath
import re
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from sm_lint.dockerfile import shell as _package  # read at call time: tests set _package._RAISE

from .lexer import _NAME, WordRep, _make_word, _Uncompiled  # before parser.py: lexer.py imports it at its end
from .parser import _ASSIGN, _parse
from .records import Command, is_unknown


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
                if _package._RAISE:
                    raise
            got = analysis.views[key] = tuple(out)  # partial on error: best effort
        return list(got)
    except Exception:
        if _package._RAISE:
            raise
        return []


def _analyse(script: str, env: Optional[Mapping[str, str]], workdir: str) -> _Analysis:
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
        if _package._RAISE:
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
