"""What a long command tells the person waiting: a rich spinner on a terminal, plain
`sm-lint: ...` lines on stderr otherwise (CI logs), nothing with --quiet. Reports never go here:
stdout stays the report's alone."""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

from sm_lint.terminal import printable


class Progress:
    def __init__(self, quiet: bool = False, lines: bool = True) -> None:
        """`lines=False`: a spinner on a terminal but no step lines elsewhere (for a command that is
        usually quick, whose stderr should stay empty or hold one error line)."""
        live = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
        self.quiet = quiet or (not lines and not live)
        self.live = not self.quiet and live
        self._status: Optional[Any] = None
        self._started = 0.0
        self._step = ""

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finish()

    def step(self, text: str) -> None:
        """A new stage of the work begins (the previous one is done)."""
        self._finish()
        text = printable(text)  # image names and paths are the user's: no raw control bytes
        self._step, self._started = text, time.monotonic()
        if self.quiet:
            return
        if self.live:
            from rich.console import Console  # only on a terminal: rich costs ~40 ms to import
            from rich.text import Text

            self._status = Console(stderr=True).status(Text(text))  # Text: no [markup] from names
            self._status.start()
        else:
            print(f"sm-lint: {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """How the current step is going (a long wait's progress): the spinner's text on a
        terminal, an `sm-lint: ...` line otherwise."""
        text = printable(text)
        if self.quiet:
            return
        if self._status is not None:
            from rich.text import Text

            self._status.update(Text(f"{self._step}: {text}"))
        else:
            print(f"sm-lint: {text}", file=sys.stderr, flush=True)

    def _finish(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
            print(f"sm-lint: {self._step} ({time.monotonic() - self._started:.1f} s)", file=sys.stderr, flush=True)
