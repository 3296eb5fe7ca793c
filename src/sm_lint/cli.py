"""The command line: parse flags, call the library, map the outcome to an exit code. Nothing else."""
from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import typer

from sm_lint import __version__
from sm_lint.errors import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, FatalError, UsageError

EXIT_INTERNAL = 4

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Check containers against the Amazon SageMaker Processing contract.",
)


class Format(str, enum.Enum):
    text = "text"
    json = "json"


class FailOn(str, enum.Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sm-lint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """sm-lint: Dockerfile, image and runtime checks for SageMaker Processing containers."""


@app.command()
def check(
    paths: List[str] = typer.Argument(..., help="Dockerfiles or folders to search; - reads standard input."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run [default: warning]."),
    ignore: List[str] = typer.Option([], "--ignore", help="Rule id to skip (repeatable)."),
    build_arg: List[str] = typer.Option([], "--build-arg", help="NAME=VALUE, as for docker build (repeatable)."),
    target: Optional[str] = typer.Option(None, "--target", help="Check this build stage as the final image."),
    gpu: Optional[bool] = typer.Option(None, "--gpu/--no-gpu", help="The image is (not) for GPU instances [default: decide from evidence]."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Use this config file instead of looking one up."),
    inline_ignores: bool = typer.Option(True, "--inline-ignores/--no-inline-ignores", help="Honour `# sm-lint: ignore=` pragmas."),
    context: Optional[Path] = typer.Option(None, "--context", help="Build context folder [default: the Dockerfile's folder]."),
) -> None:
    """Check Dockerfiles statically: no Docker engine, no network."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.check import CheckOptions, run_check

    def work() -> int:
        catalogue = Catalogue.load()
        options = CheckOptions(
            config_file=config_file,
            ignore=tuple(rule.upper() for rule in ignore),
            fail_on=fail_on.value if fail_on else None,
            gpu=None if gpu is None else ("true" if gpu else "false"),
            build_args=_build_args(build_arg),
            target=target,
            inline_ignores=inline_ignores,
            context=context,
        )
        result = run_check(paths, options, catalogue)
        _emit(format.value, result.findings, "check", result.targets, result.fail_on, catalogue, output)
        return EXIT_FINDINGS if result.failed else EXIT_OK

    _exit(work)


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="Explain one rule, for example SM101."),
    format: Format = typer.Option(Format.text, "--format", "-f"),
) -> None:
    """List the rules, or explain one."""
    from sm_lint import rules_command

    _exit(lambda: rules_command.show(rule_id, format.value))


def _build_args(items: List[str]) -> Tuple[Tuple[str, str], ...]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise UsageError(f"--build-arg {item!r}: expected NAME=VALUE")
        if not sep:  # `docker build --build-arg NAME` takes the value from the environment
            if name not in os.environ:
                continue
            value = os.environ[name]
        pairs.append((name, value))
    return tuple(pairs)


def _emit(fmt: str, findings: list, command: str, targets: Tuple[str, ...], fail_on: str,
          catalogue: "object", output: Optional[Path]) -> None:
    from sm_lint.report import RunInfo, renderer

    titles = {rule.id: rule.title for rule in catalogue}  # type: ignore[attr-defined]
    color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = renderer(fmt)(findings, RunInfo(command, targets, fail_on, titles, color))
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{output}: cannot write report: {error.strerror or error}") from None


def _exit(work: Callable[[], int]) -> None:
    """The one error path: a one-line message and a distinct exit code, never a traceback."""
    try:
        code = work()
    except FatalError as error:
        typer.echo(f"sm-lint: error: {error}", err=True)
        code = error.exit_code
    except KeyboardInterrupt:
        typer.echo("sm-lint: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_OK
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("SM_LINT_DEBUG"):
            raise
        typer.echo(f"sm-lint: internal error: {type(error).__name__}: {error} "
                   "(set SM_LINT_DEBUG=1 for the traceback, and please report it)", err=True)
        code = EXIT_INTERNAL
    raise typer.Exit(code)


def main() -> None:
    app(prog_name="sm-lint")
