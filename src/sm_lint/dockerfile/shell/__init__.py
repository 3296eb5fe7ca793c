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

Modules, by job:
- records.py: the public records (`Command`, `PathWrite`, `PackageInstall`, `Word`) and `is_unknown`.
- lexer.py: tokens and words; also the lazily compiled regexes of every module here.
- parser.py: tokens to the tuple AST.
- evaluate.py: walks the AST (variables, cd, branches, wrappers) into records; the analysis cache.
- effects.py: the public views over the records (writes, installs, words, final command, signals).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

_RAISE = False  # tests set this to see internal errors that the public API would swallow

if TYPE_CHECKING:
    from .effects import commands, final_command, forwards_signals, mentioned_words, package_installs, written_paths
    from .records import Command, PackageInstall, PathWrite, Word, is_unknown

_VIEWS = frozenset(("commands", "final_command", "forwards_signals", "mentioned_words", "package_installs",
                    "written_paths"))
_RECORDS = frozenset(("Command", "PackageInstall", "PathWrite", "Word", "is_unknown"))


def __getattr__(name: str) -> Any:
    """The records, and the views with the lexer, parser and evaluator, load on first use (PEP 562):
    a Dockerfile with no RUN and no shell code to run never imports them (`check`'s start-up).
    effects.py imports evaluate.py, which imports lexer.py before parser.py (they import each
    other, lexer.py at its end)."""
    if name in _VIEWS:
        from . import effects as module
    elif name in _RECORDS:
        from . import records as module  # type: ignore[no-redef]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


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

