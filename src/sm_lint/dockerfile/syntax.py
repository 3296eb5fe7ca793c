"""Records produced by the Dockerfile parser (see parser.py), shaped like BuildKit's AST nodes."""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple


class Heredoc(NamedTuple):
    name: str  # the terminator word, without quotes
    content: str  # the body, each line ending in "\n"; leading tabs removed for <<-
    file_descriptor: int = 0  # 3 for `3<<EOF`
    chomp: bool = False  # <<-EOF: leading tabs stripped
    expand: bool = True  # False when the terminator was quoted ('EOF' or "EOF")


class Instruction(NamedTuple):
    """One Dockerfile instruction, as BuildKit's parser delimits and splits it.

    `value` matches BuildKit's node chain (what the `dockerfile` PyPI package calls `value`):
    for exec (JSON) form the array items; for shell form RUN/CMD/ENTRYPOINT/SHELL/VOLUME the
    whole argument text as one item; for COPY/ADD/FROM/EXPOSE the whitespace-separated words;
    for ENV/LABEL/ARG the key/value items as BuildKit splits them.
    """

    keyword: str  # upper-case: "RUN", "FROM"; unknown instructions keep their upper-cased word
    original: str  # the instruction's source text with continuations joined, as BuildKit keeps it
    start_line: int  # 1-based line of the first source line
    end_line: int  # 1-based line of the last source line (heredoc terminator included)
    flags: Tuple[str, ...]  # builder flags before the arguments: ("--from=build", "--chown=1:1")
    value: Tuple[str, ...]
    json: bool  # True only when the argument parsed as a JSON array of strings (exec form)
    args: str  # the argument text after the flags, trimmed (what shell form runs, or the JSON text)
    heredocs: Tuple[Heredoc, ...] = ()
    sub: Optional["Instruction"] = None  # the wrapped instruction of ONBUILD


class Directives(NamedTuple):
    escape: str = "\\"
    syntax: Optional[str] = None
    escape_line: int = 0  # the line of `# escape=`, 0 when defaulted


class ParsedDockerfile(NamedTuple):
    instructions: Tuple[Instruction, ...]
    directives: Directives
    lines: Tuple[str, ...]  # the source lines, for reports and inline pragmas


class DockerfileSyntaxError(Exception):
    """BuildKit's parser would reject the file: the message and the 1-based line it names."""

    def __init__(self, message: str, line: int, end_line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.end_line = end_line or line
