"""Text bound for a person's terminal: control characters shown, never obeyed.

Dockerfiles, image file names, container logs and error messages quote untrusted bytes; ESC
(CSI/OSC sequences that retitle, recolour, hide text or write the clipboard), CR, BS, C1 controls
and Unicode bidi overrides would act on the terminal. Every human-facing line (text reports,
progress, errors) passes through `printable`, which writes them as `\\x1b`, `\\r`, `\\u202e`, as
Python's ascii() does. Machine formats (JSON, SARIF, XML, ...) keep the exact text.
"""
from __future__ import annotations

import re
from typing import Optional

# C0 but TAB, DEL and C1, line/paragraph separators, bidi embeddings/overrides/isolates.
_CLASS = "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_control: "Optional[re.Pattern[str]]" = None  # compiled on first use: not every run prints anything to escape


def _show(match: "re.Match[str]") -> str:
    return ascii(match.group())[1:-1]


def printable(text: str) -> str:
    """`text` with every control character escaped (newlines too: one message stays one line)."""
    global _control
    if text.isascii() and text.isprintable():  # the usual line (0x20-0x7e only): no regex to compile (~0.5 ms)
        return text
    if _control is None:
        _control = re.compile(_CLASS)
    return _control.sub(_show, text) if _control.search(text) else text
