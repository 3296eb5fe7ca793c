"""`sm-lint gate`: the whole CI gate in one command. Checks the Dockerfile, optionally builds the
image, inspects it, runs the harness, writes every report, and exits by the failure threshold.

A failure in one layer does not hide the others: a build that fails is a finding (SM200) and the
image and runtime layers are then skipped with that reason; an engine that cannot be reached skips
them too, and the gate exits 3 after the reports are written. On the sagemaker engine the runtime
layer does not need this machine to read the image: an image that cannot be read here skips only
the image layer (with why, and `registry:REF`), and the service pulls and runs it. Settings may live in
`[tool.sm-lint.gate]`; flags win over them.
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from sm_lint import config
from sm_lint.catalogue import Catalogue
from sm_lint.errors import EXIT_ENVIRONMENT, EXIT_FINDINGS, EXIT_OK, EnvironmentFailure, UsageError
from sm_lint.findings import Finding, Hit
from sm_lint.harness.sagemaker import ENGINES

BUILD_RULE = "SM200"
GATE_KEYS = {"dockerfile", "image", "build", "context", "job", "scenario", "report", "baseline",
             "docker-host", "platform", "target", "engine", "role", "region", "s3-prefix", "jobs",
             # the harness's profile inputs (sm-lint run's flags of the same names)
             "model-data", "payload", "content-type", "hyperparameters", "channel"}


class GateOptions(NamedTuple):
    # The profile inputs of the runtime layer, from the table only: (run_command.RunOptions field, value)
    run_inputs: Tuple[Tuple[str, Any], ...] = ()
    dockerfile: Optional[str] = None
    image: Optional[str] = None
    build: Optional[bool] = None
    context: Optional[str] = None
    target: Optional[str] = None
    build_args: Tuple[Tuple[str, str], ...] = ()
    job: Optional[str] = None
    allow_local_paths: Tuple[str, ...] = ()  # a flag only: the config is the repository's, a pull request's
    scenarios: Tuple[str, ...] = ()
    reports: Tuple[str, ...] = ()  # FORMAT=PATH
    baseline: Optional[str] = None
    docker_host: Optional[str] = None
    platform: Optional[str] = None
    config_file: Optional[Path] = None
    ignore: Tuple[str, ...] = ()
    fail_on: Optional[str] = None
    quiet: bool = False
    profile: Optional[str] = None  # `--profile`; None: the config's (default processing)
    insecure_registries: Tuple[str, ...] = ()  # --insecure-registry (a registry: image)
    ca_cert: Optional[str] = None  # --ca-cert (a registry: image)
    engine: Optional[str] = None  # where the runtime layer runs: docker (default) or sagemaker (harness/sagemaker)
    role: Optional[str] = None  # the sagemaker engine's settings, as `sm-lint run` takes them
    region: Optional[str] = None
    s3_prefix: Optional[str] = None
    jobs: Optional[int] = None


class GateResult(NamedTuple):
    findings: List[Finding]  # new findings (not accepted by the baseline)
    exit_code: int
    fail_on: str
    facts: Tuple[Tuple[str, str], ...]
    rules: Tuple[str, ...]
    skipped: Tuple[Tuple[str, str], ...]
    targets: Tuple[str, ...]
    target_layers: Tuple[Tuple[str, str], ...]
    profile: str = "processing"  # the SageMaker contract every layer checked


def gate_table(config_file: Optional[Path]) -> Tuple[Dict[str, Any], str]:
    """The `[tool.sm-lint.gate]` table (or `[gate]` of .sm-lint.toml) of the config in effect."""
    source = config_file or config.find_config(Path.cwd())
    if source is None:
        return {}, ""
    table = config.read_table(source).get("gate", {})
    where = f"{source} [gate]"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: must be a table")
    unknown = sorted(set(table) - GATE_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {', '.join(unknown)} (known: {', '.join(sorted(GATE_KEYS))})")
    return table, where


def merged_options(options: GateOptions) -> GateOptions:
    """Flags over `[tool.sm-lint.gate]`, paths in the table relative to the config file's folder."""
    table, where = gate_table(options.config_file)
    base = Path(where.split(" [gate]")[0]).parent if where else Path.cwd()

    def text(key: str) -> Optional[str]:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"{where}: {key} must be a string")
        return value

    def path(key: str) -> Optional[str]:
        value = text(key)
        return str(base / value) if value is not None else None

    def strings(key: str) -> Tuple[str, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: {key} must be a list of strings")
        return tuple(value)

    build = table.get("build")
    if build is not None and not isinstance(build, bool):
        raise UsageError(f"{where}: build must be true or false")
    jobs = table.get("jobs")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise UsageError(f"{where}: jobs must be a number, 1 or more")
    engine = options.engine or text("engine")  # None: docker
    if engine is not None and engine not in ENGINES:
        raise UsageError(f"{where if not options.engine else '--engine'}: engine {engine!r}: expected one of {', '.join(ENGINES)}")
    reports = options.reports or tuple(_report_in(item, base) for item in strings("report"))
    return options._replace(
        dockerfile=options.dockerfile or path("dockerfile"), image=options.image or text("image"),
        build=options.build if options.build is not None else bool(build), context=options.context or path("context"),
        target=options.target or text("target"), job=options.job or path("job"),
        scenarios=options.scenarios or strings("scenario"), reports=reports,
        baseline=options.baseline or path("baseline"), docker_host=options.docker_host or text("docker-host"),
        platform=options.platform or text("platform") or "linux/amd64", engine=engine,
        role=options.role or text("role"), region=options.region or text("region"),
        s3_prefix=options.s3_prefix or text("s3-prefix"), jobs=options.jobs or jobs,
        run_inputs=options.run_inputs or _run_inputs(path, text, strings, base))


def _run_inputs(path: Any, text: Any, strings: Any, base: Path) -> Tuple[Tuple[str, Any], ...]:
    """The table's profile inputs for `sm-lint run`, paths relative to the config's folder."""
    found = [("model_data", path("model-data")), ("payload", path("payload")), ("content_type", text("content-type")),
             ("hyperparameters", path("hyperparameters"))]
    channels = tuple(f"{name}={base / folder}" for name, _, folder in (item.partition("=") for item in strings("channel")))
    return tuple(item for item in found if item[1] is not None) + ((("channels", channels),) if channels else ())


def _report_in(item: str, base: Path) -> str:
    fmt, sep, raw = item.partition("=")
    return f"{fmt}={base / raw}" if sep and raw and not Path(raw).is_absolute() else item


def run_gate(options: GateOptions, catalogue: Catalogue) -> GateResult:
    from sm_lint import baseline as baseline_file
    from sm_lint.check import CheckOptions, run_check
    from sm_lint.check_command import _coverage
    from sm_lint.console import rule_coverage
    from sm_lint.inspect_command import InspectOptions, settings_for
    from sm_lint.progress import Progress
    from sm_lint.report import failed
    from sm_lint.run_command import expand_scenarios

    options = merged_options(options)
    if not options.dockerfile and not options.image:
        raise UsageError("gate: give --dockerfile, --image or both (or set them in [tool.sm-lint.gate])")
    if options.build and not (options.dockerfile and options.image):
        raise UsageError("gate: --build needs --dockerfile and --image (the tag to build)")
    from sm_lint.image.sources import check, engine_name, registry_options

    engine_image = engine_name(options.image) if options.image else None
    if options.image:
        check(options.image)  # a missing archive or a malformed reference: exit 2 before any work
    if options.build and engine_image is None:
        raise UsageError(f"gate: --build makes an image in the engine: --image {options.image!r} names an archive or"
                         " a registry image (give the engine tag to build, NAME or docker:NAME)")
    if options.build:
        options = options._replace(image=engine_image)
    catalogue.check_ids(list(options.ignore), "--ignore")
    # Everything a typo could break is read before the work starts: no build is wasted on it.
    scenarios = expand_scenarios(list(options.scenarios), serves=None)  # expanded under the profile by run
    command = _job_command(options.job) if options.image and options.job else ((), ())
    if options.image and options.job:  # the job file's host folders (file://), before any build
        from sm_lint.harness.jobspec import load_request
        from sm_lint.run_command import RunOptions, confine_local_paths

        confine_local_paths(load_request(options.job), RunOptions(job_file=options.job,
                                                                  allow_local_paths=options.allow_local_paths))
    inspect_options = InspectOptions(config_file=options.config_file, ignore=options.ignore, fail_on=options.fail_on,
                                     platform=options.platform or "linux/amd64", docker_host=options.docker_host,
                                     entrypoint=command[0], arguments=command[1], profile=options.profile,
                                     registry=registry_options(options.insecure_registries, options.ca_cert))
    image_settings = settings_for(inspect_options, catalogue) if options.image else None
    layers = {rule.id: rule.layer for rule in catalogue}
    accepted = baseline_file.load(Path(options.baseline), layers) if options.baseline else None

    findings: List[Finding] = []
    facts: List[Tuple[str, str]] = []
    rules: List[str] = []
    skipped: List[Tuple[str, str]] = []
    targets: List[str] = []
    target_layers: List[Tuple[str, str]] = []
    environment_failure = ""
    fail_on = options.fail_on or "warning"
    check_options = CheckOptions(config_file=options.config_file, ignore=options.ignore, fail_on=options.fail_on,
                                 build_args=options.build_args, target=options.target,
                                 context=Path(options.context) if options.context else None,
                                 profile=options.profile)
    profile = options.profile or (image_settings.profile if image_settings else "")
    with Progress(options.quiet) as progress:
        if options.dockerfile:
            progress.step(f"checking {options.dockerfile}")
            checked = run_check([options.dockerfile], check_options, catalogue)
            findings += checked.findings
            fail_on = checked.fail_on
            targets += checked.targets
            target_layers += [(target, "dockerfile") for target in checked.targets]
            ran_rules, skipped_rules = _coverage(checked.targets, check_options, catalogue)
            from sm_lint.check_command import profile_of

            profile = profile or profile_of(checked.targets, check_options, catalogue)
            rules += ran_rules
            skipped += skipped_rules
        image_usable = bool(options.image)
        if options.image:
            # The image is a target of the gate even when it cannot be checked: its suites then say why.
            targets.append(options.image)
            target_layers += [(options.image, "image"), (options.image, "runtime")]
        if options.image and options.build:
            assert image_settings is not None
            progress.step(f"building {options.image}")
            try:
                built = _build(options, catalogue, image_settings)
            except EnvironmentFailure as error:
                environment_failure = str(error)
                image_usable = False
                skipped += _skip_layers(catalogue, f"not built: {error}", ("image", "runtime"), profile=profile)
            else:
                if BUILD_RULE in image_settings.ignored(datetime.date.today()):
                    skipped.append((BUILD_RULE, "ignored by --ignore or the config"))
                else:
                    rules.append(BUILD_RULE)
                if built is not None:
                    findings += built
                    image_usable = False
                    skipped += _skip_layers(catalogue, "the image did not build (SM200)", ("image", "runtime"),
                                            exclude=(BUILD_RULE,), profile=profile)
        if options.image and image_usable:
            run_image = _run_image(options, engine_image)
            runtime_usable = True
            try:
                progress.step(f"inspecting {options.image}")
                image_findings, image_facts = _inspect(options, inspect_options, catalogue, findings)
                findings = image_findings
                facts += image_facts
                assert image_settings is not None
                ran_rules, skipped_rules = rule_coverage(catalogue, ("image",), [image_settings], options.ignore)
                rules += ran_rules
                skipped += skipped_rules
            except EnvironmentFailure as error:
                done = set(rules) | {rule for rule, _ in skipped}
                if options.engine == "sagemaker" and run_image:
                    # The service pulls the image itself: what this machine cannot read (an image
                    # only in a registry) still runs there. The image layer is a skip, not exit 3.
                    reason = _not_inspected(options.image, error)
                    facts.append(("image layer", f"skipped: {reason}"))
                    progress.note(reason)
                    layers_out: Tuple[str, ...] = ("image",)
                else:
                    environment_failure = str(error)
                    reason = f"not checked: {error}"
                    runtime_usable = False
                    layers_out = ("image", "runtime")
                skipped += [(rule, why) for rule, why in
                            _skip_layers(catalogue, reason, layers_out, exclude=(BUILD_RULE,), profile=profile)
                            if rule not in done]
            if runtime_usable:
                try:
                    ran = _run(options._replace(profile=profile or None, image=run_image), scenarios, catalogue,
                               progress) if run_image else None
                except EnvironmentFailure as error:
                    environment_failure = str(error)
                    done = set(rules) | {rule for rule, _ in skipped}
                    skipped += [(rule, reason) for rule, reason in
                                _skip_layers(catalogue, f"not checked: {error}", ("runtime",), profile=profile)
                                if rule not in done]
                else:
                    if ran is None:
                        ran = _not_run(catalogue, _why_not_run(options), profile)
                    findings += ran.findings
                    facts += [fact for fact in ran.facts if fact[0] != "image"]
                    rules += list(ran.rules)
                    skipped += list(ran.skipped)
    if environment_failure:
        facts.append(("not checked", environment_failure))
        # The reports still come (the layers that could be checked), but exit 3 needs its reason
        # where a CI log shows errors, also under --quiet: one line, as for every command.
        from sm_lint.terminal import printable

        print(f"sm-lint: error: {printable(environment_failure)}", file=sys.stderr, flush=True)
    if accepted is not None:
        findings, known = baseline_file.split(findings, accepted, layers)
        facts.append(("baseline", f"{len(known)} known finding{'s' if len(known) != 1 else ''} accepted "
                                  f"from {options.baseline}"))
    if environment_failure:
        code = EXIT_ENVIRONMENT
    else:
        code = EXIT_FINDINGS if failed(findings, fail_on) else EXIT_OK
    return GateResult(findings, code, fail_on, tuple(facts), tuple(dict.fromkeys(rules)), tuple(skipped),
                      tuple(targets), tuple(target_layers), profile or "processing")


def _job_command(job: str) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """The job's ContainerEntrypoint and ContainerArguments: the image is inspected for the command
    Processing will run (SM202: arguments a shell-form entrypoint drops), as `inspect --entrypoint
    --arg` does. Read before any work, so a broken request file costs no build."""
    from sm_lint.harness.jobspec import read_request

    app = read_request(job).get("AppSpecification") or {}
    return tuple(app.get("ContainerEntrypoint") or ()), tuple(app.get("ContainerArguments") or ())


def _skip_layers(catalogue: Catalogue, reason: str, layers: Tuple[str, ...],
                 exclude: Tuple[str, ...] = (), profile: str = "") -> List[Tuple[str, str]]:
    """Every rule of `layers` as skipped for `reason`; one outside the profile says that instead."""
    from sm_lint.console import outside_reason

    profile = profile or "processing"
    return [(rule.id, reason if rule.applies(profile) else outside_reason(rule, (profile,)))
            for rule in catalogue if rule.layer in layers and rule.id not in exclude]


def _build(options: GateOptions, catalogue: Catalogue, settings: Any) -> Optional[List[Finding]]:
    """Build the image; None when it built, else its SM200 finding, stamped like every rule's
    (config severity and ignores), on the image: the image suites of the reports hold the build's
    verdict whether it passes or fails."""
    from sm_lint.image.build import build
    from sm_lint.image.engine import connect
    from sm_lint.stamping import stamp

    assert options.dockerfile and options.image
    dockerfile = Path(options.dockerfile)
    context = Path(options.context) if options.context else dockerfile.parent
    client = connect(options.docker_host)
    try:
        result = build(client, context, dockerfile, options.image, options.build_args, options.target)
    finally:
        client.close()
    if result.image_id is not None:
        return None
    hit = Hit(0, f"the image does not build: {result.error}", fix="fix the build error, then run the gate again",
              evidence=tuple(result.log[-15:]))
    return stamp([(BUILD_RULE, hit)], options.image, settings, catalogue, datetime.date.today())


def _inspect(options: GateOptions, inspect_options: Any, catalogue: Catalogue,
             dockerfile_findings: List[Finding]) -> Tuple[List[Finding], List[Tuple[str, str]]]:
    from sm_lint.combined import merge
    from sm_lint.image.checks import has_toolkit
    from sm_lint.inspect_command import run_inspect

    assert options.image
    inspected = run_inspect(options.image, inspect_options, catalogue)
    if options.dockerfile:
        config_ = inspected.view.config
        merged = merge(dockerfile_findings, inspected.findings, options.image, bool(config_.entrypoint or config_.cmd),
                       has_toolkit(inspected.view))
    else:
        merged = dockerfile_findings + inspected.findings
    return merged, list(inspected.facts)


class _NotRun(NamedTuple):
    findings: List[Finding]
    facts: Tuple[Tuple[str, str], ...]
    rules: Tuple[str, ...]
    skipped: Tuple[Tuple[str, str], ...]


def _not_run(catalogue: Catalogue, reason: str, profile: str) -> _NotRun:
    return _NotRun([], (), (), tuple(_skip_layers(catalogue, reason, ("runtime",), profile=profile)))


def _run_image(options: GateOptions, engine_image: Optional[str]) -> Optional[str]:
    """The image the harness runs: the engine's name; on the sagemaker engine the registry
    reference itself (an engine name or `registry:REF`), which the service pulls."""
    if options.engine != "sagemaker" or not options.image:
        return engine_image
    from sm_lint.image.sources import ENGINE, REGISTRY, parse

    source = parse(options.image)
    return source.value if source.scheme in (ENGINE, REGISTRY) else None


def _not_inspected(image: str, error: EnvironmentFailure) -> str:
    """Why the image layer of a sagemaker-engine gate is skipped, and how to read the image here."""
    from sm_lint.image.sources import ENGINE, parse

    source = parse(image)
    hint = (f"; `--image registry:{source.value}` reads it from its registry instead"
            if source.scheme == ENGINE else "")
    return (f"not inspected: {image} cannot be read on this machine ({error}){hint}; the runtime layer runs on "
            "SageMaker, which pulls the image itself")


def _why_not_run(options: GateOptions) -> str:
    if options.engine == "sagemaker":
        return (f"{options.image} is an archive: SageMaker runs images it pulls from a registry (push it, then gate "
                "its URI)")
    return (f"{options.image} is not an engine image: the harness runs images in a Docker engine (pull or load it, "
            "then gate its name)")


def _run(options: GateOptions, scenarios: Tuple[str, ...], catalogue: Catalogue, progress: Any) -> Any:
    from sm_lint.run_command import RunOptions, run_harness

    assert options.image
    return run_harness(options.image, RunOptions(
        job_file=options.job, scenarios=scenarios, docker_host=options.docker_host,
        allow_local_paths=options.allow_local_paths,
        config_file=options.config_file, ignore=options.ignore, fail_on=options.fail_on, profile=options.profile,
        **dict(options.run_inputs), **_engine_options(options)), catalogue, progress)


def _engine_options(options: GateOptions) -> Dict[str, Any]:
    if options.engine != "sagemaker":
        return {}
    from sm_lint.harness.sagemaker import SageMakerOptions

    return {"sagemaker": SageMakerOptions(role=options.role, region=options.region, s3_prefix=options.s3_prefix,
                                          jobs=options.jobs or 1)}
