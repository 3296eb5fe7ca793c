"""The command line: parse flags, call the library, map the outcome to an exit code. Nothing else."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import List, Optional

import typer

from sm_lint import __version__
from sm_lint.config import FAIL_ON
from sm_lint.console import guarded
from sm_lint.report import FORMATS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Check containers against the Amazon SageMaker Processing contract.",
)


# The choices live with the code that uses them; typer wants them as enums.
Format = enum.Enum("Format", {name: name for name in FORMATS}, type=str)  # type: ignore[misc]
FailOn = enum.Enum("FailOn", {name: name for name in FAIL_ON}, type=str)  # type: ignore[misc]


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
def inspect(
    image: str = typer.Argument(..., help="Image name, tag or id in the engine; or a docker-save archive / OCI layout."),
    platform: str = typer.Option("linux/amd64", "--platform", help="Platform to pick from a multi-platform index."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", help="Engine address [default: DOCKER_HOST or the local socket]."),
    entrypoint: List[str] = typer.Option([], "--entrypoint", help="ContainerEntrypoint item of the job (repeatable, in order)."),
    arg: List[str] = typer.Option([], "--arg", help="ContainerArguments item of the job (repeatable, in order)."),
    gpu: Optional[bool] = typer.Option(None, "--gpu/--no-gpu", help="The image is (not) for GPU instances [default: from evidence]."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run [default: warning]."),
    ignore: List[str] = typer.Option([], "--ignore", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Use this config file instead of looking one up."),
) -> None:
    """Check a built image: its config and merged filesystem."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.console import emit
    from sm_lint.errors import EXIT_FINDINGS, EXIT_OK
    from sm_lint.inspect_command import InspectOptions, run_inspect

    def work() -> int:
        catalogue = Catalogue.load()
        options = InspectOptions(
            config_file=config_file, ignore=tuple(r.upper() for r in ignore),
            fail_on=fail_on.value if fail_on else None,
            gpu=None if gpu is None else ("true" if gpu else "false"),
            platform=platform, docker_host=docker_host, entrypoint=tuple(entrypoint), arguments=tuple(arg))
        result = run_inspect(image, options, catalogue)
        titles = {rule.id: rule.title for rule in catalogue}
        emit(format.value, result.findings, "inspect", (image,), result.fail_on, titles, output, result.facts)
        return EXIT_FINDINGS if result.failed else EXIT_OK

    raise typer.Exit(guarded(work))


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="Explain one rule, for example SM101."),
    format: Format = typer.Option("text", "--format", "-f"),
) -> None:
    """List the rules, or explain one."""
    from sm_lint import rules_command

    raise typer.Exit(guarded(lambda: rules_command.show(rule_id, format.value)))
