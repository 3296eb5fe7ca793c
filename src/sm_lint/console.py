"""What every command shares at the edge: the one error path and report output. No typer here,
so the fast `check` path (check_command.py) can use it without loading the CLI framework."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from sm_lint.errors import EXIT_INTERRUPTED, EXIT_OK, FatalError, Terminated, UsageError
from sm_lint.findings import Finding

EXIT_INTERNAL = 4


def guarded(work: Callable[[], int]) -> int:
    """Run a command: a one-line message and a distinct exit code for every failure, never a traceback."""
    try:
        return work()
    except FatalError as error:
        print(f"sm-lint: error: {error}", file=sys.stderr)
        return error.exit_code
    except Terminated as stop:
        print(f"sm-lint: terminated by signal {stop.exit_code - 128}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("sm-lint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("SM_LINT_DEBUG"):
            raise
        print(f"sm-lint: internal error: {type(error).__name__}: {error} "
              "(set SM_LINT_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def emit(fmt: str, findings: List[Finding], command: str, targets: Sequence[str], fail_on: str,
         titles: dict, output: Optional[Path], facts: Tuple[Tuple[str, str], ...] = ()) -> None:
    """Render one report and write it to `output`, or to stdout."""
    from sm_lint.report import RunInfo, renderer

    color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = renderer(fmt)(findings, RunInfo(command, tuple(targets), fail_on, titles, color, facts))
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{output}: cannot write report: {error.strerror or error}") from None
