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
RulesFormat = enum.Enum("RulesFormat", {name: name for name in ("text", "json")}, type=str)  # type: ignore[misc]


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
    docker_host: Optional[str] = typer.Option(None, "--docker-host", help="Engine address (default: DOCKER_HOST or the local socket)."),
    entrypoint: List[str] = typer.Option([], "--entrypoint", help="ContainerEntrypoint item of the job (repeatable, in order)."),
    arg: List[str] = typer.Option([], "--arg", help="ContainerArguments item of the job (repeatable, in order)."),
    gpu: Optional[bool] = typer.Option(None, "--gpu/--no-gpu", help="The image is (not) for GPU instances (default: from evidence)."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Also write a report in FORMAT to PATH (repeatable)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Use this config file instead of looking one up."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Check a built image: its config and merged filesystem."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.console import check_writable, emit, parse_report_flags, rule_coverage
    from sm_lint.errors import EXIT_FINDINGS, EXIT_OK
    from sm_lint.inspect_command import InspectOptions, run_inspect, settings_for

    def work() -> int:
        reports = parse_report_flags(report)
        if output is not None:
            check_writable(output, f"--output {str(output)!r}")
        catalogue = Catalogue.load()
        options = InspectOptions(
            config_file=config_file, ignore=tuple(r.upper() for r in ignore),
            fail_on=fail_on.value if fail_on else None,
            gpu=None if gpu is None else ("true" if gpu else "false"),
            platform=platform, docker_host=docker_host, entrypoint=tuple(entrypoint), arguments=tuple(arg))
        from sm_lint.progress import Progress

        with Progress(quiet, lines=False) as progress:
            progress.step(f"reading the layers of {image}")
            result = run_inspect(image, options, catalogue)
        titles = {rule.id: rule.title for rule in catalogue}
        rules, skipped = rule_coverage(catalogue, ("image",), [settings_for(options, catalogue)], options.ignore)
        emit(format.value, result.findings, "inspect", (image,), result.fail_on, titles, output, result.facts,
             reports=reports, rules=rules, skipped=skipped)
        return EXIT_FINDINGS if result.failed else EXIT_OK

    raise typer.Exit(guarded(work))


@app.command()
def rules(
    rule_id: Optional[str] = typer.Argument(None, help="Explain one rule, for example SM101."),
    format: RulesFormat = typer.Option("text", "--format", "-f"),
) -> None:
    """List the rules, or explain one."""
    from sm_lint import rules_command

    raise typer.Exit(guarded(lambda: rules_command.show(rule_id, format.value)))


@app.command()  # no image: one line and exit 2, not the whole help
def run(
    image: Optional[str] = typer.Argument(None, help="Image name, tag or id in the engine."),
    job: Optional[str] = typer.Option(None, "--job", help="CreateProcessingJob request (JSON; YAML with PyYAML); flags win over it."),
    scenario: List[str] = typer.Option([], "--scenario", help="completion | stop | gpu | all (repeatable or comma-separated) (default: completion)."),
    entrypoint: Optional[List[str]] = typer.Option(None, "--entrypoint", help="ContainerEntrypoint item (repeatable, in order)."),
    arg: Optional[List[str]] = typer.Option(None, "--arg", help="ContainerArguments item (repeatable, in order)."),
    env: List[str] = typer.Option([], "--env", help="Environment entry KEY=VALUE (repeatable)."),
    input_: List[str] = typer.Option([], "--input", help="LOCAL_DIR:/opt/ml/processing/input/NAME (repeatable)."),
    output_: List[str] = typer.Option([], "--output", help="/opt/ml/processing/output/NAME:LOCAL_DIR (repeatable)."),
    instance_count: Optional[int] = typer.Option(None, "--instance-count", help="Hosts algo-1..algo-N (default: 1)."),
    instance_type: Optional[str] = typer.Option(None, "--instance-type", help="ProcessingResources InstanceType (default: ml.m5.xlarge)."),
    max_runtime: Optional[int] = typer.Option(None, "--max-runtime", help="MaxRuntimeInSeconds (default: 86400)."),
    network_isolation: Optional[bool] = typer.Option(None, "--network-isolation/--no-network-isolation", help="EnableNetworkIsolation: no network at all."),
    job_name: Optional[str] = typer.Option(None, "--job-name", help="ProcessingJobName (default: sm-lint-run)."),
    stop_signal: str = typer.Option("SIGINT", "--stop-signal", help="Signal of the stop scenario (SageMaker Processing: SIGINT)."),
    grace: float = typer.Option(10.0, "--grace", help="Seconds between the stop signal and SIGKILL."),
    stop_after: float = typer.Option(2.0, "--stop-after", help="Seconds of running before the stop signal."),
    ready_log: Optional[str] = typer.Option(None, "--ready-log", help="Send the stop signal once a log line matches this regex."),
    ready_timeout: float = typer.Option(120.0, "--ready-timeout", help="Longest wait for --ready-log."),
    expect_gpus: Optional[int] = typer.Option(None, "--expect-gpus", help="GPUs the job must see (default: the instance type's)."),
    require_gpu: bool = typer.Option(False, "--require-gpu", help="An engine without GPUs is a failure, not a skip."),
    gpus: Optional[bool] = typer.Option(None, "--gpus/--no-gpus", help="Give the job's containers all GPUs (default: when the instance type has GPUs)."),
    cpus: Optional[float] = typer.Option(None, "--cpus", help="CPU limit per container."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory limit per container (512m, 4g; none: no limit) (default: 4g)."),
    pids_limit: Optional[int] = typer.Option(None, "--pids-limit", help="Most processes per container (0: no limit) (default: 4096)."),
    allow_local_path: List[str] = typer.Option([], "--allow-local-path", metavar="DIR", help="Let the job file's file:// inputs and outputs use this host folder (repeatable; default: only the job file's folder)."),
    pull: bool = typer.Option(False, "--pull", help="Pull the image when the engine lacks it."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", help="Engine address (default: DOCKER_HOST or the local socket)."),
    cleanup: bool = typer.Option(False, "--cleanup", help="Remove what earlier, crashed runs left in the engine (only what is provably dead), list it, then exit."),
    force: bool = typer.Option(False, "--force", help="With --cleanup: also remove other machines' runs, which cannot be proven dead from here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Also write a report in FORMAT to PATH (repeatable)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Use this config file instead of looking one up."),
) -> None:
    """Run the image as SageMaker Processing does: completion, stop and GPU scenarios."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.console import emit, parse_report_flags
    from sm_lint.errors import EXIT_FINDINGS, EXIT_OK, UsageError

    def work() -> int:
        from sm_lint.harness.jobspec import Overrides, parse_input_flag, parse_output_flag
        from sm_lint.run_command import RunOptions, expand_scenarios, run_harness

        if cleanup:
            return _cleanup(docker_host, force, format.value)
        if force:
            raise UsageError("--force goes with --cleanup")
        if image is None:
            raise UsageError("run: give an IMAGE (or --cleanup); see sm-lint run --help")
        reports = parse_report_flags(report)
        overrides = Overrides(
            entrypoint=entrypoint or None, arguments=arg or None, env=_env_pairs(env),
            inputs=[parse_input_flag(item) for item in input_], outputs=[parse_output_flag(item) for item in output_],
            instance_count=instance_count, instance_type=instance_type, max_runtime=max_runtime,
            network_isolation=network_isolation, job_name=job_name)
        options = RunOptions(
            job_file=job, overrides=overrides, scenarios=expand_scenarios(scenario), docker_host=docker_host,
            pull=pull, stop_signal=stop_signal, grace=grace, stop_after=stop_after, ready_log=ready_log,
            ready_timeout=ready_timeout, expect_gpus=expect_gpus, require_gpu=require_gpu, gpus=gpus,
            cpus=cpus, memory=memory, pids_limit=pids_limit, allow_local_paths=tuple(allow_local_path),
            config_file=config_file, ignore=tuple(r.upper() for r in ignore),
            fail_on=fail_on.value if fail_on else None)
        catalogue = Catalogue.load()
        from sm_lint.progress import Progress

        with Progress(quiet) as progress:
            result = run_harness(image, options, catalogue, progress)
        titles = {rule.id: rule.title for rule in catalogue}
        emit(format.value, result.findings, "run", (image,), result.fail_on, titles, None, result.facts,
             reports=reports, rules=result.rules, skipped=result.skipped,
             target_layers=((image, "runtime"),))
        return EXIT_FINDINGS if result.failed else EXIT_OK

    raise typer.Exit(guarded(work))


def _env_pairs(items: List[str]) -> dict:
    from sm_lint.errors import UsageError

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _cleanup(docker_host: Optional[str], force: bool, fmt: str) -> int:
    import json

    from sm_lint import __version__
    from sm_lint.errors import EXIT_OK, UsageError
    from sm_lint.harness.lifecycle import Leftover, remove_leftovers
    from sm_lint.image.engine import connect
    from sm_lint.terminal import printable

    if fmt not in ("text", "json"):
        raise UsageError(f"--cleanup prints text or json, not {fmt}")
    client = connect(docker_host)
    try:
        done = remove_leftovers(client, force=force)
    finally:
        client.close()
    if fmt == "json":
        typer.echo(json.dumps({
            "version": 1, "tool": {"name": "sm-lint", "version": __version__}, "command": "run --cleanup",
            "force": force, "removed": [item.as_dict() for item in done.removed],
            "kept": [dict(item.as_dict(), removed_by_force=not item.alive) for item in done.kept]}, indent=2))
        return EXIT_OK

    def line(item: Leftover) -> str:
        what = f"{item.kind} {item.name} ({item.id[:12]}"
        what += f", image {item.image}, {item.state}" if item.kind == "container" else ""
        return printable(f"{what}, run {item.run or '?'}, owner pid {item.pid or '?'} on {item.host or '?'}): {item.reason}")

    for item in done.removed:
        typer.echo(f"removed {line(item)}")
    would_go = [item for item in done.kept if not item.alive]
    for item in would_go:
        typer.echo(f"kept (--force removes it) {line(item)}")
    for item in done.kept:
        if item.alive:
            typer.echo(f"kept {line(item)}")
    counts = lambda items: ", ".join(f"{sum(i.kind == kind for i in items)} {kind}s"  # noqa: E731
                                     for kind in ("container", "network"))
    summary = f"removed {len(done.removed)} left over ({counts(done.removed)})"
    if would_go:
        summary += f"; {len(would_go)} kept that --force would remove (other machines' runs: they may still be going)"
    if len(done.kept) > len(would_go):
        summary += f"; {len(done.kept) - len(would_go)} of live runs on this host kept"
    typer.echo(summary)
    return EXIT_OK


@app.command()  # a bare `sm-lint gate` is complete when [tool.sm-lint.gate] says what to gate
def gate(
    dockerfile: Optional[str] = typer.Option(None, "--dockerfile", help="The Dockerfile to check (and build with --build)."),
    image: Optional[str] = typer.Option(None, "--image", help="The image to inspect and run (the tag to build with --build)."),
    build: Optional[bool] = typer.Option(None, "--build/--no-build", help="Build the image from the Dockerfile first."),
    build_arg: List[str] = typer.Option([], "--build-arg", help="NAME=VALUE for the build and the Dockerfile check (repeatable)."),
    context: Optional[str] = typer.Option(None, "--context", help="Build context (default: the Dockerfile's folder)."),
    target: Optional[str] = typer.Option(None, "--target", help="Build stage to build and check."),
    job: Optional[str] = typer.Option(None, "--job", help="CreateProcessingJob request for the harness."),
    allow_local_path: List[str] = typer.Option([], "--allow-local-path", metavar="DIR", help="Let the job file's file:// inputs and outputs use this host folder (repeatable; never from the config; default: only the job file's folder)."),
    scenario: List[str] = typer.Option([], "--scenario", help="Harness scenarios: completion | stop | gpu | all (default: completion)."),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Write a report in FORMAT to PATH (repeatable)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="An earlier JSON report: its findings do not fail the gate."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", help="Engine address (default: DOCKER_HOST or the local socket)."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Platform to pick from a multi-platform index."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format on stdout."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the gate (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="Use this config file instead of looking one up."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """The CI gate: check the Dockerfile, build, inspect and run the image; write every report."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.check_command import build_args
    from sm_lint.console import emit, parse_report_flags
    from sm_lint.gate_command import GateOptions, merged_options, run_gate

    def work() -> int:
        options = GateOptions(
            dockerfile=dockerfile, image=image, build=build, context=context, target=target,
            build_args=build_args(build_arg), job=job, allow_local_paths=tuple(allow_local_path),
            scenarios=tuple(scenario), reports=tuple(report),
            baseline=baseline, docker_host=docker_host, platform=platform, config_file=config_file,
            ignore=tuple(r.upper() for r in ignore), fail_on=fail_on.value if fail_on else None, quiet=quiet)
        reports = parse_report_flags(merged_options(options).reports)  # a bad path fails before any work
        catalogue = Catalogue.load()
        result = run_gate(options, catalogue)
        titles = {rule.id: rule.title for rule in catalogue}
        emit(format.value, result.findings, "gate", result.targets, result.fail_on, titles, None, result.facts,
             reports=reports, rules=result.rules, skipped=result.skipped, target_layers=result.target_layers)
        return result.exit_code

    raise typer.Exit(guarded(work))
