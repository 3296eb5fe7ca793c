"""Signal handling shared by everything a run must clean up (engine containers, SageMaker jobs):
SIGTERM and SIGHUP become `errors.Terminated`, so the same unwinding as for Ctrl-C runs, and the
clean-up itself runs with the stop signals ignored, so that a second Ctrl-C cannot cut it short."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from types import FrameType
from typing import Any, Dict, Iterator, Optional

from sm_lint.errors import Terminated


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise Terminated(signum)


def catch_termination() -> Dict[int, Any]:
    """From now on SIGTERM and SIGHUP raise Terminated; the handlers they replaced. Off the main
    thread nothing changes: the caller owns signal handling there."""
    return _replace((signal.SIGTERM, signal.SIGHUP), _terminate)


def restore(handlers: Dict[int, Any]) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@contextmanager
def held(previous: Dict[int, Any]) -> Iterator[None]:
    """Runs the body with SIGINT, SIGTERM and SIGHUP ignored, then puts back what they were before
    `catch_termination` (its answer is `previous`)."""
    ignored = _replace((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), signal.SIG_IGN)
    try:
        yield
    finally:
        restore(ignored)
        restore(previous)


def _replace(signums: Any, handler: Any) -> Dict[int, Any]:
    replaced: Dict[int, Any] = {}
    for signum in signums:
        try:
            replaced[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            break
    return replaced
