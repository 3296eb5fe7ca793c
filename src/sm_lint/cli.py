"""The command line: parse flags, call the library, map the outcome to an exit code. Nothing else."""
from __future__ import annotations

import enum
from typing import Optional

import typer

from sm_lint import __version__
from sm_lint.console import guarded

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Check containers against the Amazon SageMaker Processing contract.",
)


class Format(str, enum.Enum):
    text = "text"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sm-lint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """sm-lint: Dockerfile, image and runtime checks for SageMaker Processing containers."""


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []}, add_help_option=False)
def check(ctx: typer.Context) -> None:
    """Check Dockerfiles statically: no Docker engine, no network (see `sm-lint check --help`)."""
    from sm_lint.check_command import main as check_main

    raise typer.Exit(check_main(ctx.args))


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="Explain one rule, for example SM101."),
    format: Format = typer.Option(Format.text, "--format", "-f"),
) -> None:
    """List the rules, or explain one."""
    from sm_lint import rules_command

    raise typer.Exit(guarded(lambda: rules_command.show(rule_id, format.value)))
