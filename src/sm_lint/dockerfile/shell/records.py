"""The records that the shell analysis returns: commands, path writes, package installs, words."""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple


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
