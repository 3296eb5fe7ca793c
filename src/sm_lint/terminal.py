"""Text bound for a person's terminal: control characters shown, never obeyed.

Dockerfiles, image file names, container logs and error messages quote untrusted bytes; ESC
(CSI/OSC sequences that retitle, recolour, hide text or write the clipboard), CR, BS, C1 controls
and Unicode bidi overrides would act on the terminal. Every human-facing line (text reports,
progress, errors) passes through `printable`, which writes them as `\\x1b`, `\\r`, `\\u202e`, as
Python's ascii() does. Machine formats (JSON, SARIF, XML, ...) keep the exact text.
"""
from __future__ import annotations

import re

# C0 but TAB, DEL and C1, line/paragraph separators, bidi embeddings/overrides/isolates.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _show(match: "re.Match[str]") -> str:
    return ascii(match.group())[1:-1]


def printable(text: str) -> str:
    """`text` with every control character escaped (newlines too: one message stays one line)."""
    return _CONTROL.sub(_show, text) if _CONTROL.search(text) else text
