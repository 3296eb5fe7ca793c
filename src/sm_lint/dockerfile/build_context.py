"""Reading files of the build context the way BuildKit does, and nothing outside it.

A COPY/ADD source names a path inside the context root: BuildKit cleans it against the root, so
`..` cannot climb above it, and follows symbolic links *inside* the root (continuity's
fs.RootPath): an absolute link target is taken from the context root, `..` in a target stops at
the root, and more than 255 links is an error (a loop). sm-lint resolves sources the same way,
component by component with lstat, and opens the result only when it is a regular file inside the
root: a host file outside the context is never read, so its lines never reach a report.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import List, Optional

MAX_LINKS = 255  # continuity fs.RootPath / Go's FollowSymlinkInScope: "too many links"
MAX_BYTES = 1_000_000  # entrypoint scripts larger than this are not analysed


def resolve(root: Path, source: str) -> Optional[str]:
    """The host path that `source` (as written in COPY/ADD) names inside the context `root`, with
    every symbolic link followed within the root; None for a loop or a missing component."""
    try:
        base = os.path.realpath(root)
    except (OSError, ValueError):
        return None
    resolved: List[str] = []
    pending = [part for part in reversed(source.split("/")) if part]
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(base, *resolved, part)
        try:
            info = os.lstat(candidate)
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(info.st_mode):
            links += 1
            if links > MAX_LINKS:
                return None
            try:
                target = os.readlink(candidate)
            except OSError:
                return None
            if target.startswith("/"):
                resolved = []
            pending.extend(p for p in reversed(target.split("/")) if p)
            continue
        if pending and not stat.S_ISDIR(info.st_mode):
            return None
        resolved.append(part)
    return os.path.join(base, *resolved)


def read_text(root: Path, source: str, limit: int = MAX_BYTES) -> Optional[str]:
    """The text of the regular file `source` names in the context `root`, or None (outside the
    root, missing, a loop, not a regular file, larger than `limit`)."""
    path = resolve(root, source)
    if path is None:
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    return data.decode("utf-8", errors="replace")
