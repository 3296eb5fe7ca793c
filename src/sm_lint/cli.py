"""The command line: parse flags, call the library, map the outcome to an exit code. Nothing else."""
from __future__ import annotations

import enum
import sys
import typing
from pathlib import Path
from typing import List, Optional, Tuple

import typer

from sm_lint import __version__
from sm_lint.config import FAIL_ON
from sm_lint.console import guarded
from sm_lint.harness.sagemaker import ENGINES
from sm_lint.profiles import NAMES as PROFILES
from sm_lint.report import FORMATS
from sm_lint.terminal import printable

try:  # typer 0.2x vendors click; older typer uses the click package
    from typer._click.exceptions import UsageError as _ClickUsageError
except ImportError:  # pragma: no cover
    from click.exceptions import UsageError as _ClickUsageError


class _UsageError(_ClickUsageError):
    """A flag error on one line, as `sm-lint check` (argparse) reports its own."""

    def show(self, file: typing.Any = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "sm-lint"
        name = where.split(" ", 1)[1] + ": " if " " in where else ""
        message = printable(" ".join(self.format_message().split())).rstrip(".")
        sys.stderr.write(f"sm-lint: error: {name}{message} (see `{where} --help`)\n")


def _one_line_errors(make_context: typing.Callable[..., typer.Context]) -> typing.Callable[..., typer.Context]:
    def wrapped(*args: typing.Any, **kwargs: typing.Any) -> typer.Context:
        try:
            return make_context(*args, **kwargs)
        except _ClickUsageError as error:
            if type(error).__name__ == "NoArgsIsHelpError" or isinstance(error, _UsageError):
                raise
            raise _UsageError(error.format_message(), error.ctx) from None
    return wrapped


class _Command(typer.core.TyperCommand):
    """Help in the layout that `sm-lint check` (argparse) uses too: helptext.py, not typer's boxes;
    flag errors on one line, as check's."""

    def format_help(self, ctx: typer.Context, formatter: typing.Any) -> None:
        from sm_lint.helptext import from_click

        formatter.write(from_click(ctx))

    def make_context(self, *args: typing.Any, **kwargs: typing.Any) -> typer.Context:
        return _one_line_errors(super().make_context)(*args, **kwargs)


class _Group(typer.core.TyperGroup):
    def format_help(self, ctx: typer.Context, formatter: typing.Any) -> None:
        from sm_lint.helptext import from_click

        formatter.write(from_click(ctx))

    def make_context(self, *args: typing.Any, **kwargs: typing.Any) -> typer.Context:
        return _one_line_errors(super().make_context)(*args, **kwargs)

    def resolve_command(self, ctx: typer.Context, args: typing.List[str]) -> typing.Any:
        return _one_line_errors(super().resolve_command)(ctx, args)

    def parse_args(self, ctx: typer.Context, args: typing.List[str]) -> typing.List[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:  # bare `sm-lint`: the help, exit 2
            typer.echo(ctx.get_help())
            ctx.exit(2)
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_Group,
    rich_markup_mode=None,  # errors through _UsageError.show, help through helptext.py
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Check containers against the Amazon SageMaker Processing contract.",
)


# The choices live with the code that uses them; typer wants them as enums.
Format = enum.Enum("Format", {name: name for name in FORMATS}, type=str)  # type: ignore[misc]
Engine = enum.Enum("Engine", {name: name for name in ENGINES}, type=str)  # type: ignore[misc]
FailOn = enum.Enum("FailOn", {name: name for name in FAIL_ON}, type=str)  # type: ignore[misc]
RulesFormat = enum.Enum("RulesFormat", {name: name for name in ("text", "json")}, type=str)  # type: ignore[misc]
ProfileName = enum.Enum("ProfileName", {name: name for name in PROFILES}, type=str)  # type: ignore[misc]
_PROFILE_HELP = "The SageMaker contract to check against (default: processing; profile in config)."


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
    """Check Dockerfiles statically: no Docker engine, no network."""
    from sm_lint.check_command import main as check_main

    raise typer.Exit(check_main(ctx.args))


@app.command(cls=_Command)
def inspect(
    images: List[str] = typer.Argument(..., metavar="IMAGE", help="Images as docker:NAME, docker-archive:PATH, oci-archive:PATH, oci-dir:PATH or registry:REF; without a scheme an existing path is an archive, anything else an engine image."),
    platform: str = typer.Option("linux/amd64", "--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from a multi-platform index."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", metavar="URL", help="Engine address (default: DOCKER_HOST or the local socket)."),
    insecure_registry: List[str] = typer.Option([], "--insecure-registry", metavar="HOST[:PORT]", help="Allow plain HTTP (and unverified TLS) for this registry (repeatable; loopback registries may always use HTTP)."),
    ca_cert: Optional[Path] = typer.Option(None, "--ca-cert", metavar="FILE", help="Also trust this CA (PEM) for registry TLS."),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", min=1, max=64, help="Images read at the same time."),
    entrypoint: List[str] = typer.Option([], "--entrypoint", metavar="ITEM", help="ContainerEntrypoint item of the job (repeatable, in order)."),
    arg: List[str] = typer.Option([], "--arg", metavar="ITEM", help="ContainerArguments item of the job (repeatable, in order)."),
    gpu: Optional[bool] = typer.Option(None, "--gpu/--no-gpu", help="The image is (not) for GPU instances (default: from evidence)."),
    profile: Optional[ProfileName] = typer.Option(None, "--profile", help=_PROFILE_HELP),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report here instead of stdout."),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Also write a report in FORMAT to PATH (repeatable)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="RULE", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="Use this config file instead of looking one up."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """Check built images: their config and merged filesystem."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.console import check_writable, emit, parse_report_flags, rule_coverage
    from sm_lint.errors import EXIT_FINDINGS, EXIT_OK
    from sm_lint.image.sources import registry_options
    from sm_lint.inspect_command import InspectOptions, many_facts, run_inspect_many, settings_for

    def work() -> int:
        reports = parse_report_flags(report)
        if output is not None:
            check_writable(output, f"--output {str(output)!r}")
        catalogue = Catalogue.load()
        options = InspectOptions(
            config_file=config_file, ignore=tuple(r.upper() for r in ignore),
            fail_on=fail_on.value if fail_on else None,
            gpu=None if gpu is None else ("true" if gpu else "false"),
            platform=platform, docker_host=docker_host, entrypoint=tuple(entrypoint), arguments=tuple(arg),
            profile=profile.value if profile else None,
            registry=registry_options(insecure_registry, str(ca_cert) if ca_cert else None))
        from sm_lint.progress import Progress

        with Progress(quiet, lines=False) as progress:
            progress.step(f"reading the layers of {', '.join(images)}")
            results = run_inspect_many(images, options, catalogue, jobs)
        titles = {rule.id: rule.title for rule in catalogue}
        settings = settings_for(options, catalogue)
        rules, skipped = rule_coverage(catalogue, ("image",), [settings], options.ignore)
        findings = [finding for result in results for finding in result.findings]
        emit(format.value, findings, "inspect", tuple(images), results[0].fail_on, titles, output,
             many_facts(images, results), reports=reports, rules=rules, skipped=skipped, profile=settings.profile)
        return EXIT_FINDINGS if any(result.failed for result in results) else EXIT_OK

    raise typer.Exit(guarded(work))


@app.command(cls=_Command)
def rules(
    rule_id: Optional[str] = typer.Argument(None, metavar="RULE", help="Explain one rule, for example SM101."),
    format: RulesFormat = typer.Option("text", "--format", "-f", help="Output format."),
) -> None:
    """List the rules, or explain one."""
    from sm_lint import rules_command

    raise typer.Exit(guarded(lambda: rules_command.show(rule_id, format.value)))


@app.command(cls=_Command)  # no image: one line and exit 2, not the whole help
def run(
    image: Optional[List[str]] = typer.Argument(None, metavar="IMAGE", help="Image name, tag or id in the engine; with --engine sagemaker the image URI the service pulls, several at once."),
    job: Optional[str] = typer.Option(None, "--job", metavar="FILE", help="CreateProcessingJob request (JSON; YAML with PyYAML); flags win over it."),
    profile: Optional[ProfileName] = typer.Option(None, "--profile", help="The SageMaker contract to run the image under: processing, training, inference or batch-transform (default: processing; profile in config)."),
    scenario: List[str] = typer.Option([], "--scenario", metavar="SCENARIO", help="Scenarios to run: completion, serve (inference, batch-transform), stop, gpu or all; repeatable or comma-separated (default: completion; serve when serving)."),
    entrypoint: Optional[List[str]] = typer.Option(None, "--entrypoint", metavar="ITEM", help="ContainerEntrypoint item (repeatable, in order)."),
    arg: Optional[List[str]] = typer.Option(None, "--arg", metavar="ITEM", help="ContainerArguments item (repeatable, in order)."),
    env: List[str] = typer.Option([], "--env", metavar="KEY=VALUE", help="Environment entry (repeatable)."),
    job_input: List[str] = typer.Option([], "--job-input", metavar="DIR:/opt/ml/processing/input/NAME", help="A local folder (or an s3:// URI) as a ProcessingInput (repeatable)."),
    job_output: List[str] = typer.Option([], "--job-output", metavar="/opt/ml/processing/output/NAME:DIR", help="Collect a ProcessingOutput's folder here (or send it to an s3:// URI) (repeatable)."),
    old_input: List[str] = typer.Option([], "--input", hidden=True, help="The old spelling of --job-input (until the next release)."),
    instance_count: Optional[int] = typer.Option(None, "--instance-count", metavar="N", help="Hosts algo-1..algo-N (default: 1)."),
    instance_type: Optional[str] = typer.Option(None, "--instance-type", metavar="TYPE", help="ProcessingResources InstanceType (default: ml.m5.xlarge)."),
    max_runtime: Optional[int] = typer.Option(None, "--max-runtime", metavar="SECONDS", help="MaxRuntimeInSeconds (default: 86400; 600 with --engine sagemaker)."),
    network_isolation: Optional[bool] = typer.Option(None, "--network-isolation/--no-network-isolation", help="EnableNetworkIsolation: no network at all."),
    job_name: Optional[str] = typer.Option(None, "--job-name", metavar="NAME", help="ProcessingJobName (default: sm-lint-run)."),
    stop_signal: Optional[str] = typer.Option(None, "--stop-signal", metavar="SIGNAL", help="Signal of the stop scenario (default: the profile's: SIGINT for processing, SIGTERM otherwise)."),
    grace: Optional[float] = typer.Option(None, "--grace", metavar="SECONDS", help="Seconds between the stop signal and SIGKILL (default: the profile's: 120 training, 30 inference and batch-transform, 10 processing)."),
    startup_timeout: Optional[float] = typer.Option(None, "--startup-timeout", metavar="SECONDS", help="Serving: longest wait for GET /ping to answer 200, 60-3600 (default: 240)."),
    invocations_timeout: Optional[float] = typer.Option(None, "--invocations-timeout", metavar="SECONDS", help="Serving: longest wait for POST /invocations (default: 60; batch-transform 600)."),
    model_data: Optional[str] = typer.Option(None, "--model-data", metavar="DIR|model.tar.gz", help="Serving: the model, put under /opt/ml/model (a tar.gz is unpacked)."),
    payload: Optional[str] = typer.Option(None, "--payload", metavar="FILE", help="Serving: the body POSTed to /invocations (at most 6 MB)."),
    content_type: Optional[str] = typer.Option(None, "--content-type", metavar="TYPE", help="Serving: the payload's Content-Type (default: from its file name)."),
    accept: Optional[str] = typer.Option(None, "--accept", metavar="TYPE", help="Serving: the Accept header of /invocations."),
    hyperparameters: Optional[str] = typer.Option(None, "--hyperparameters", metavar="FILE", help="Training: a JSON object of strings, written to hyperparameters.json."),
    channel: List[str] = typer.Option([], "--channel", metavar="NAME=DIR", help="Training: a folder as the channel /opt/ml/input/data/NAME (repeatable)."),
    model_output: Optional[str] = typer.Option(None, "--model-output", metavar="DIR", help="Training: collect /opt/ml/model and /opt/ml/output into DIR/model and DIR/output."),
    stop_after: float = typer.Option(2.0, "--stop-after", metavar="SECONDS", help="Seconds of running before the stop signal."),
    ready_log: Optional[str] = typer.Option(None, "--ready-log", metavar="REGEX", help="Send the stop signal once a log line matches this regex."),
    ready_timeout: float = typer.Option(120.0, "--ready-timeout", metavar="SECONDS", help="Longest wait for --ready-log."),
    expect_gpus: Optional[int] = typer.Option(None, "--expect-gpus", metavar="N", help="GPUs the job must see (default: the instance type's)."),
    require_gpu: bool = typer.Option(False, "--require-gpu", help="An engine without GPUs is a failure, not a skip."),
    gpus: Optional[bool] = typer.Option(None, "--gpus/--no-gpus", help="Give the job's containers all GPUs (default: when the instance type has GPUs)."),
    cpus: Optional[float] = typer.Option(None, "--cpus", metavar="N", help="CPU limit per container."),
    memory: Optional[str] = typer.Option(None, "--memory", metavar="SIZE", help="Memory limit per container (512m, 4g; none: no limit) (default: 4g)."),
    pids_limit: Optional[int] = typer.Option(None, "--pids-limit", metavar="N", help="Most processes per container (0: no limit) (default: 4096)."),
    allow_local_path: List[str] = typer.Option([], "--allow-local-path", metavar="DIR", help="Let the job file's file:// inputs and outputs use this host folder; repeatable (default: only the job file's folder)."),
    pull: bool = typer.Option(False, "--pull", help="Pull the image when the engine lacks it."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", metavar="URL", help="Engine address (default: DOCKER_HOST or the local socket)."),
    engine: Engine = typer.Option("docker", "--engine", help="Where the scenarios run: docker (an engine emulates SageMaker) or sagemaker (real Processing jobs through boto3, billed; pip install 'sm-lint[aws]')."),
    role: Optional[str] = typer.Option(None, "--role", metavar="ROLE_ARN", help="With --engine sagemaker: the jobs' execution role (RoleArn)."),
    region: Optional[str] = typer.Option(None, "--region", metavar="REGION", help="With --engine sagemaker: the AWS region (default: AWS_REGION or the AWS profile's)."),
    s3_prefix: Optional[str] = typer.Option(None, "--s3-prefix", metavar="S3URI", help="With --engine sagemaker: where local --job-input/--job-output folders go through S3 (deleted afterwards)."),
    jobs: int = typer.Option(1, "--jobs", metavar="N", help="With --engine sagemaker: jobs run at once (over every image's scenarios)."),
    cleanup: bool = typer.Option(False, "--cleanup", help="Remove what earlier, crashed runs left in the engine (only what is provably dead), list it, then exit; with --engine sagemaker: stop this identity's leftover jobs."),
    force: bool = typer.Option(False, "--force", help="With --cleanup: also remove other machines' runs, which cannot be proven dead from here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    # a list only so that the old spelling of --job-output, repeatable, still works for one release
    output: List[str] = typer.Option([], "--output", "-o", metavar="FILE", help="Write the report here instead of stdout."),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Also write a report in FORMAT to PATH (repeatable)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the run (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="RULE", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="Use this config file instead of looking one up."),
) -> None:
    """Run the image as SageMaker Processing does: completion, stop and GPU scenarios."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.console import check_writable, emit, parse_report_flags
    from sm_lint.errors import EXIT_FINDINGS, EXIT_OK, UsageError

    def work() -> int:
        from sm_lint.harness.jobspec import Overrides, parse_input_flag, parse_output_flag
        from sm_lint.run_command import SEVERAL_IMAGES_ENGINE, RunOptions, run_harness_many

        cloud = engine.value == "sagemaker"
        images = list(image or [])
        if not cloud:
            given = [flag for flag, value in (("--role", role), ("--region", region), ("--s3-prefix", s3_prefix),
                                              ("--jobs", jobs != 1 or None)) if value is not None]
            if given:
                raise UsageError(f"{given[0]} goes with --engine sagemaker")
        if cleanup:
            return _cleanup_sagemaker(region, force, format.value) if cloud else _cleanup(docker_host, force, format.value)
        if force:
            raise UsageError("--force goes with --cleanup")
        if not images:
            raise UsageError("run: give an IMAGE (or --cleanup); see sm-lint run --help")
        if len(images) > 1 and not cloud:
            raise UsageError(SEVERAL_IMAGES_ENGINE)
        report_file, old_outputs = _report_file(output)
        if old_input:
            _deprecated("run --input", "--job-input")
        reports = parse_report_flags(report)
        if report_file is not None:
            check_writable(report_file, f"--output {str(report_file)!r}")
        overrides = Overrides(
            entrypoint=entrypoint or None, arguments=arg or None, env=_env_pairs(env),
            inputs=[parse_input_flag(item) for item in [*job_input, *old_input]],
            outputs=[parse_output_flag(item) for item in [*job_output, *old_outputs]],
            instance_count=instance_count, instance_type=instance_type, max_runtime=max_runtime,
            network_isolation=network_isolation, job_name=job_name)
        options = RunOptions(
            job_file=job, overrides=overrides, scenarios=tuple(scenario) or ("completion",), docker_host=docker_host,
            pull=pull, stop_signal=stop_signal, grace=grace, stop_after=stop_after, ready_log=ready_log,
            ready_timeout=ready_timeout, expect_gpus=expect_gpus, require_gpu=require_gpu, gpus=gpus,
            cpus=cpus, memory=memory, pids_limit=pids_limit, allow_local_paths=tuple(allow_local_path),
            config_file=config_file, ignore=tuple(r.upper() for r in ignore),
            fail_on=fail_on.value if fail_on else None, profile=profile.value if profile else None,
            startup_timeout=startup_timeout, invocations_timeout=invocations_timeout, model_data=model_data,
            payload=payload, content_type=content_type, accept=accept, hyperparameters=hyperparameters,
            channels=tuple(channel), model_output=model_output, sagemaker=_sagemaker_options(
                cloud, role, region, s3_prefix, jobs, grace))
        catalogue = Catalogue.load()
        from sm_lint.progress import Progress

        with Progress(quiet) as progress:
            result = run_harness_many(images, options, catalogue, progress)
        titles = {rule.id: rule.title for rule in catalogue}
        emit(format.value, result.findings, "run", tuple(images), result.fail_on, titles, report_file, result.facts,
             reports=reports, rules=result.rules, skipped=result.skipped,
             target_layers=tuple((name, "runtime") for name in images), profile=result.profile)
        return EXIT_FINDINGS if result.failed else EXIT_OK

    raise typer.Exit(guarded(work))


def _report_file(values: List[str]) -> Tuple[Optional[Path], List[str]]:
    """`run -o/--output`: the report file, as in every command. A value that names a container path
    under /opt/ml/processing (`/opt/ml/processing/output/NAME:DIR`) is the job output mapping's old
    spelling (now --job-output): still taken as that for one release, with a note."""
    from sm_lint.errors import UsageError
    from sm_lint.harness.jobspec import is_old_output_mapping

    old = [value for value in values if is_old_output_mapping(value)]
    files = [value for value in values if not is_old_output_mapping(value)]
    if old:
        _deprecated("run --output CONTAINER_PATH:DIR", "--job-output", "--output is now the report file, as in every command")
    if len(files) > 1:
        raise UsageError(f"--output is the report file and is given {len(files)} times: {', '.join(map(repr, files))}")
    return (Path(files[0]) if files else None), old


def _deprecated(old: str, new: str, why: str = "") -> None:
    import sys

    sys.stderr.write(f"sm-lint: note: {old} is the old spelling of {new}, taken as that until the next "
                     f"release{' (' + why + ')' if why else ''}\n")


def _env_pairs(items: List[str]) -> dict:
    from sm_lint.errors import UsageError

    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _sagemaker_options(cloud: bool, role: Optional[str], region: Optional[str], s3_prefix: Optional[str], jobs: int,
                       grace: Optional[float]) -> typing.Any:
    if not cloud:
        return None
    from sm_lint.harness.sagemaker import SageMakerOptions

    return SageMakerOptions(role=role, region=region, s3_prefix=s3_prefix, jobs=jobs, stop_grace=grace)


def _cleanup_sagemaker(region: Optional[str], force: bool, fmt: str) -> int:
    """`run --engine sagemaker --cleanup`: stop this identity's sm-lint jobs left InProgress."""
    import json

    from sm_lint import __version__
    from sm_lint.errors import EXIT_OK, UsageError
    from sm_lint.harness.sagemaker.engine import cleanup
    from sm_lint.terminal import printable

    if fmt not in ("text", "json"):
        raise UsageError(f"--cleanup prints text or json, not {fmt}")
    found = cleanup(region, force)
    if fmt == "json":
        typer.echo(json.dumps({"version": 1, "tool": {"name": "sm-lint", "version": __version__},
                               "command": "run --engine sagemaker --cleanup", "force": force,
                               "stopped": [item.as_dict() for item in found if item.stopped],
                               "kept": [item.as_dict() for item in found if not item.stopped]}, indent=2))
        return EXIT_OK
    for item in found:
        typer.echo(printable(f"{'stopped' if item.stopped else 'kept'} processing job {item.name} (run {item.run}, "
                             f"created {item.created}): {item.reason}"))
    stopped = sum(item.stopped for item in found)
    typer.echo(f"stopped {stopped} left-over processing job{'s' if stopped != 1 else ''}"
               + (f"; kept {len(found) - stopped}" if len(found) > stopped else ""))
    return EXIT_OK


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
                                     for kind in ("container", "network", "image"))
    summary = f"removed {len(done.removed)} left over ({counts(done.removed)})"
    if would_go:
        summary += f"; {len(would_go)} kept that --force would remove (other machines' runs: they may still be going)"
    if len(done.kept) > len(would_go):
        summary += f"; {len(done.kept) - len(would_go)} of live runs on this host kept"
    typer.echo(summary)
    return EXIT_OK


@app.command(cls=_Command)  # a bare `sm-lint gate` is complete when [tool.sm-lint.gate] says what to gate
def gate(
    dockerfile: Optional[str] = typer.Option(None, "--dockerfile", metavar="FILE", help="The Dockerfile to check (and build with --build)."),
    image: Optional[str] = typer.Option(None, "--image", metavar="IMAGE", help="The image to inspect and run (the tag to build with --build): NAME or docker:NAME in the engine; docker-archive:, oci-archive:, oci-dir: or registry: images are inspected, not run (registry: images run with --engine sagemaker, which pulls them)."),
    build: Optional[bool] = typer.Option(None, "--build/--no-build", help="Build the image from the Dockerfile first."),
    build_arg: List[str] = typer.Option([], "--build-arg", metavar="NAME=VALUE", help="As for docker build, for the build and the Dockerfile check (repeatable)."),
    context: Optional[str] = typer.Option(None, "--context", metavar="DIR", help="Build context (default: the Dockerfile's folder)."),
    target: Optional[str] = typer.Option(None, "--target", metavar="STAGE", help="Build stage to build and check."),
    job: Optional[str] = typer.Option(None, "--job", metavar="FILE", help="CreateProcessingJob request for the harness."),
    allow_local_path: List[str] = typer.Option([], "--allow-local-path", metavar="DIR", help="Let the job file's file:// inputs and outputs use this host folder; repeatable, never from the config (default: only the job file's folder)."),
    scenario: List[str] = typer.Option([], "--scenario", metavar="SCENARIO", help="Harness scenarios: completion, stop, gpu or all; repeatable or comma-separated (default: completion)."),
    profile: Optional[ProfileName] = typer.Option(None, "--profile", help=_PROFILE_HELP),
    report: List[str] = typer.Option([], "--report", metavar="FORMAT=PATH", help="Write a report in FORMAT to PATH (repeatable)."),
    baseline: Optional[str] = typer.Option(None, "--baseline", metavar="FILE", help="An earlier JSON report: its findings do not fail the gate."),
    docker_host: Optional[str] = typer.Option(None, "--docker-host", metavar="URL", help="Engine address (default: DOCKER_HOST or the local socket)."),
    platform: Optional[str] = typer.Option(None, "--platform", metavar="OS/ARCH[/VARIANT]", help="Platform to pick from a multi-platform index."),
    insecure_registry: List[str] = typer.Option([], "--insecure-registry", metavar="HOST[:PORT]", help="Allow plain HTTP (and unverified TLS) for this registry (repeatable)."),
    ca_cert: Optional[Path] = typer.Option(None, "--ca-cert", metavar="FILE", help="Also trust this CA (PEM) for registry TLS."),
    engine: Optional[Engine] = typer.Option(None, "--engine", help="Where the harness runs: docker or sagemaker (real Processing jobs, billed) (default: docker; engine in config)."),
    role: Optional[str] = typer.Option(None, "--role", metavar="ROLE_ARN", help="With --engine sagemaker: the jobs' execution role."),
    region: Optional[str] = typer.Option(None, "--region", metavar="REGION", help="With --engine sagemaker: the AWS region."),
    s3_prefix: Optional[str] = typer.Option(None, "--s3-prefix", metavar="S3URI", help="With --engine sagemaker: where local job folders go through S3."),
    jobs: Optional[int] = typer.Option(None, "--jobs", metavar="N", help="With --engine sagemaker: scenarios run as jobs at once (default: 1)."),
    format: Format = typer.Option("text", "--format", "-f", help="Output format."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the report here instead of stdout."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Lowest severity that fails the gate (default: warning)."),
    ignore: List[str] = typer.Option([], "--ignore", metavar="RULE", help="Rule id to skip (repeatable)."),
    config_file: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="Use this config file instead of looking one up."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress on stderr."),
) -> None:
    """The CI gate: check the Dockerfile, build, inspect and run the image; write every report."""
    from sm_lint.catalogue import Catalogue
    from sm_lint.check_command import build_args
    from sm_lint.console import check_writable, emit, parse_report_flags
    from sm_lint.gate_command import GateOptions, merged_options, run_gate

    def work() -> int:
        options = GateOptions(
            dockerfile=dockerfile, image=image, build=build, context=context, target=target,
            build_args=build_args(build_arg), job=job, allow_local_paths=tuple(allow_local_path),
            scenarios=tuple(scenario), reports=tuple(report),
            baseline=baseline, docker_host=docker_host, platform=platform, config_file=config_file,
            ignore=tuple(r.upper() for r in ignore), fail_on=fail_on.value if fail_on else None, quiet=quiet,
            profile=profile.value if profile else None, insecure_registries=tuple(insecure_registry),
            ca_cert=str(ca_cert) if ca_cert else None, engine=engine.value if engine else None, role=role,
            region=region, s3_prefix=s3_prefix, jobs=jobs)
        reports = parse_report_flags(merged_options(options).reports)  # a bad path fails before any work
        if output is not None:
            check_writable(output, f"--output {str(output)!r}")
        catalogue = Catalogue.load()
        result = run_gate(options, catalogue)
        titles = {rule.id: rule.title for rule in catalogue}
        emit(format.value, result.findings, "gate", result.targets, result.fail_on, titles, output, result.facts,
             reports=reports, rules=result.rules, skipped=result.skipped, target_layers=result.target_layers,
             profile=result.profile)
        return result.exit_code

    raise typer.Exit(guarded(work))
