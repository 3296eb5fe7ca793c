"""Entry point of the `sm-lint` console script and of `python -m sm_lint`."""
from __future__ import annotations

import sys


def main() -> None:
    # `check` skips the typer app: it is the hot path (pre-commit, CI) and typer's import cost
    # would dominate a single-file run. Everything else goes through the typer app.
    if sys.argv[1:2] == ["check"]:
        from sm_lint.check_command import main as check_main

        sys.exit(check_main(sys.argv[2:]))
    import gc

    from sm_lint.cli import app

    try:
        app(prog_name="sm-lint")
    finally:
        # The docker SDK and botocore leave many objects; freezing them spares the interpreter's
        # last collection on exit (~30 ms of every run, bench/bench_run.py).
        gc.freeze()


if __name__ == "__main__":
    main()
