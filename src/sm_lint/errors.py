"""The one fatal-error path: every user-facing failure is a one-line message and an exit code."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERRUPTED = 130


class FatalError(Exception):
    """An error that ends the run with a one-line message; subclasses pick the exit code."""

    exit_code = EXIT_USAGE


class UsageError(FatalError):
    """Bad flags, bad config, unreadable or undecodable input."""

    exit_code = EXIT_USAGE


class EnvironmentFailure(FatalError):
    """Something outside sm-lint is missing (for example no Docker engine answers)."""

    exit_code = EXIT_ENVIRONMENT


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP reached sm-lint: unwound (and cleaned up) exactly as Ctrl-C is, and the
    exit code says which signal it was (128 + the signal number, as shells report it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum
