"""`sm-lint run IMAGE`: run the image the way SageMaker Processing does (or, with `--profile`,
Training, real-time inference or Batch Transform) and report what the service would see. Validates the request first (SM300: an invalid request never runs, as the
service would refuse it), then runs the chosen scenarios, each in containers that are removed at
the end (harness/lifecycle.py), also on Ctrl-C, SIGTERM and errors.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Pattern, Sequence, Tuple

from sm_lint import config
from sm_lint.catalogue import Catalogue
from sm_lint.errors import UsageError
from sm_lint.findings import Finding, Hit
from sm_lint.harness.jobspec import Overrides
from sm_lint.progress import Progress

SCENARIOS = ("completion", "serve", "stop", "gpu", "all")
# The scenarios of `all`, and the default, per kind of profile. A serving container never ends by
# itself: its "run to the end" is the serve scenario, so `completion` (gate's default) means `serve`.
ALL_SCENARIOS = {False: ("completion", "stop", "gpu"), True: ("serve", "stop", "gpu")}
# Every harness container's limits unless --memory / --pids-limit say otherwise: a fork bomb or a
# runaway allocation under test is the container's problem, not the (CI) host's.
DEFAULT_MEMORY = "4g"
DEFAULT_PIDS_LIMIT = 4096
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", re.I)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


class RunOptions(NamedTuple):
    job_file: Optional[str] = None
    overrides: Overrides = Overrides()
    scenarios: Tuple[str, ...] = ("completion",)
    docker_host: Optional[str] = None
    pull: bool = False
    stop_signal: Optional[str] = None  # None: the profile's (SIGINT for Processing, else SIGTERM)
    grace: Optional[float] = None  # None: the profile's (30 s serving, 120 s training; 10 s Processing)
    stop_after: float = 2.0
    ready_log: Optional[str] = None
    ready_timeout: float = 120.0
    expect_gpus: Optional[int] = None
    require_gpu: bool = False
    gpus: Optional[bool] = None  # request GPUs for the job's containers; None: when the instance has them
    cpus: Optional[float] = None
    memory: Optional[str] = None  # None: DEFAULT_MEMORY; "none" or "0": no limit
    pids_limit: Optional[int] = None  # None: DEFAULT_PIDS_LIMIT; 0: no limit
    allow_local_paths: Tuple[str, ...] = ()  # host folders a job file's file:// URIs may name
    config_file: Optional[Path] = None
    ignore: Tuple[str, ...] = ()
    fail_on: Optional[str] = None
    profile: Optional[str] = None  # None: the config's, else processing
    startup_timeout: Optional[float] = None  # serving: None is the profile's default (240 s)
    invocations_timeout: Optional[float] = None  # serving: None is the profile's (60 s, 600 s batch)
    model_data: Optional[str] = None  # serving: a folder or model.tar.gz for /opt/ml/model
    payload: Optional[str] = None  # serving: the file POSTed to /invocations
    content_type: Optional[str] = None
    accept: Optional[str] = None
    hyperparameters: Optional[str] = None  # training: a JSON file of string values
    channels: Tuple[str, ...] = ()  # training: NAME=DIR
    model_output: Optional[str] = None  # training: where /opt/ml/model and /opt/ml/output come back
    sagemaker: Optional[Any] = None  # harness.sagemaker.SageMakerOptions: real Processing jobs (--engine sagemaker)


# Processing documents no grace period; the harness's default then.
PROCESSING_GRACE = 10.0


class RunResult(NamedTuple):
    findings: List[Finding]
    failed: bool
    fail_on: str
    facts: Tuple[Tuple[str, str], ...]
    skipped: Tuple[Tuple[str, str], ...]  # (scenario, reason)
    rules: Tuple[str, ...]  # runtime rules that ran
    profile: str = "processing"


class ProfileRun(NamedTuple):
    """The profile's numbers for this run, every flag resolved and checked."""

    profile: Any  # profiles.Profile
    stop_signal: str
    grace: float
    extra: Any  # plan.ProfileInputs
    serve: Any  # serving.ServeSettings without the port (known once the image's labels are read), or None


def _number_in(flag: str, value: float, bounds: Any, what: str) -> float:
    low, high = bounds
    if not low <= value <= high:
        raise UsageError(f"{flag} {value:g}: {what} allows {low} to {high} seconds")
    return value


def profile_run(options: RunOptions, profile_name: str) -> ProfileRun:
    """The profile's flags checked against it, before any container starts: each problem one line
    (exit 2). Flags of another profile are refused rather than ignored."""
    import json
    import mimetypes

    from sm_lint import profiles
    from sm_lint.harness.plan import ProfileInputs
    from sm_lint.harness.procstatus import signal_number

    profile = profiles.get(profile_name)
    given = {"--model-data": options.model_data, "--payload": options.payload, "--content-type": options.content_type,
             "--accept": options.accept, "--startup-timeout": options.startup_timeout,
             "--invocations-timeout": options.invocations_timeout, "--hyperparameters": options.hyperparameters,
             "--channel": options.channels or None, "--model-output": options.model_output}
    belongs = {"--hyperparameters": "training", "--channel": "training", "--model-output": "training"}
    for flag, value in given.items():
        wanted = belongs.get(flag, "inference or batch-transform")
        if value is not None and ((flag in belongs) != (profile_name == "training") or
                                  (flag not in belongs and not profile.serves)):
            raise UsageError(f"{flag} goes with --profile {wanted}, not {profile_name}")
    if profile.serves and (options.overrides.entrypoint is not None or options.overrides.arguments is not None):
        raise UsageError(f"--entrypoint/--arg: SageMaker hosting runs `{profile.command}` and takes no "
                         f"ContainerEntrypoint or ContainerArguments under --profile {profile_name}")
    if options.job_file and profile_name != "processing":
        raise UsageError(f"--job takes a CreateProcessingJob request: not under --profile {profile_name}")
    stop_signal = options.stop_signal or profile.stop_signal
    try:
        signal_number(stop_signal)
    except ValueError as error:
        raise UsageError(f"--stop-signal: {error}") from None
    grace = options.grace if options.grace is not None else float(profile.grace_seconds or PROCESSING_GRACE)
    extra = ProfileInputs()
    serve = None
    if profile_name == "training":
        extra = ProfileInputs(hyperparameters=_hyperparameters(options.hyperparameters, json),
                              channels=tuple(_channel(text) for text in options.channels),
                              model_output=options.model_output)
        if options.model_output:
            _writable(options.model_output, "--model-output")
    elif profile.serves:
        from sm_lint.harness.serving import ServeSettings

        startup = options.startup_timeout
        startup = float(profile.get("startup_timeout_seconds")) if startup is None else _number_in(
            "--startup-timeout", startup, profile.get("startup_timeout_range"), "ContainerStartupHealthCheckTimeoutInSeconds")
        invocations = options.invocations_timeout
        invocations = float(profile.get("invocations_timeout_seconds")) if invocations is None else _number_in(
            "--invocations-timeout", invocations, profile.get("invocations_timeout_range"),
            f"{profile.title}'s invocation limit")
        if options.model_data:
            _model_data(options.model_data)
        body = None
        content_type = options.content_type
        if options.payload:
            body = _payload(options.payload, int(profile.get("max_payload_bytes")))
            content_type = content_type or mimetypes.guess_type(options.payload)[0] or "application/octet-stream"
        extra = ProfileInputs(model_data=options.model_data)
        serve = ServeSettings(profile, int(profile.get("port")), startup, invocations, body, content_type,
                              options.accept, os.path.basename(options.payload or ""))
    return ProfileRun(profile, stop_signal, grace, extra, serve)


def _hyperparameters(path: Optional[str], json: Any) -> Dict[str, str]:
    """`--hyperparameters FILE`: a JSON object of strings, as CreateTrainingJob takes them."""
    if path is None:
        return {}
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"--hyperparameters {path}: cannot read it: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"--hyperparameters {path}: not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UsageError(f"--hyperparameters {path}: expected a JSON object of name: \"value\" pairs")
    for key, value in document.items():
        if not isinstance(value, str):
            raise UsageError(f"--hyperparameters {path}: {key!r} is {json.dumps(value)}; CreateTrainingJob takes "
                             f"strings only (write \"{value}\", as the SageMaker SDK does)")
    return dict(document)


_CHANNEL_NAME = re.compile(r"[A-Za-z0-9\.\-_]+")  # ChannelName in the service model


def _channel(text: str) -> Tuple[str, str]:
    name, sep, folder = text.partition("=")
    if not sep or not _CHANNEL_NAME.fullmatch(name) or not folder:
        raise UsageError(f"--channel {text!r}: expected NAME=DIR (NAME: letters, digits, . - _)")
    if not Path(folder).is_dir():
        raise UsageError(f"--channel {text!r}: {folder} is not a folder")
    return name, folder


def _model_data(path: str) -> None:
    import tarfile

    if Path(path).is_dir():
        return
    if not Path(path).is_file():
        raise UsageError(f"--model-data {path}: not a folder or a model.tar.gz")
    try:
        with tarfile.open(path, mode="r:*"):
            pass
    except (OSError, tarfile.TarError) as error:
        raise UsageError(f"--model-data {path}: not a readable tar archive (model.tar.gz): {error}") from None


def _payload(path: str, limit: int) -> bytes:
    try:
        size = os.stat(path).st_size
        if not Path(path).is_file():
            raise UsageError(f"--payload {path}: not a file")
        if size > limit:
            raise UsageError(f"--payload {path}: {size} bytes, more than the {limit} bytes ({limit / (1 << 20):g} MB) "
                             "that InvokeEndpoint accepts")
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"--payload {path}: cannot read it: {error.strerror or error}") from None


def _writable(folder: str, flag: str) -> None:
    import tempfile

    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {folder}: cannot write there: {error.strerror or error}") from None


_doing = {"completion": "running", "serve": "serving", "stop": "starting and stopping", "gpu": "nvidia-smi in"}
# The rules each scenario decides; a skipped scenario skips these (and a rule whose page does not
# list the profile is skipped under it).
SCENARIO_RULES = {
    "completion": ("SM301", "SM302", "SM303", "SM341"),
    "serve": ("SM330", "SM331", "SM332"),
    "stop": ("SM310", "SM311", "SM312"),
    "gpu": ("SM320", "SM321"),
}


def expand_scenarios(names: List[str], serves: Optional[bool] = False) -> Tuple[str, ...]:
    """The scenario names in order, `all` expanded; for a serving profile (`serves`), `completion`
    is `serve`, and `serve` is refused for the others. `serves=None` (the profile not known yet):
    the names are only checked, and come back as given (run_harness expands them)."""
    chosen: List[str] = []
    for name in names or ["completion"]:
        for part in name.split(","):
            part = part.strip().lower()
            if part not in SCENARIOS:
                raise UsageError(f"--scenario {part!r}: expected one of {', '.join(SCENARIOS)}")
            if serves is None:
                chosen += [part] if part not in chosen else []
                continue
            if part == "serve" and not serves:
                raise UsageError("--scenario serve: only a serving container (--profile inference or batch-transform) "
                                 "is served; use completion, stop, gpu or all")
            for item in (ALL_SCENARIOS[serves] if part == "all" else (part,)):
                item = "serve" if serves and item == "completion" else item
                if item not in chosen:
                    chosen.append(item)
    return tuple(chosen)


def compile_ready_log(pattern: Optional[str]) -> Optional[Pattern[str]]:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise UsageError(f"--ready-log {pattern!r}: not a regular expression: {error}") from None


def parse_memory(text: Optional[str]) -> Optional[int]:
    """`--memory` as Docker takes it (512m, 4g, 1.5g, bytes) -> bytes; None for "none" or 0 (no limit).
    Docker's own floor is 6 MiB."""
    value = DEFAULT_MEMORY if text is None else text.strip()
    if value.lower() in ("none", "0"):
        return None
    match = _MEMORY.fullmatch(value)
    if not match:
        raise UsageError(f"--memory {text!r}: expected a size such as 512m or 4g (or none for no limit)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 6 << 20:
        raise UsageError(f"--memory {text!r}: Docker needs at least 6m")
    return size


def check_options(options: RunOptions) -> None:
    """Every flag that could only fail later, checked before any container starts (exit 2)."""
    parse_memory(options.memory)
    for name, value in (("--grace", options.grace), ("--stop-after", options.stop_after),
                        ("--ready-timeout", options.ready_timeout)):
        if value is None:
            continue
        if not value >= 0 or value == float("inf"):
            raise UsageError(f"{name} {value:g}: expected a number of seconds, 0 or more")
    if options.cpus is not None and not options.cpus > 0:
        raise UsageError(f"--cpus {options.cpus:g}: expected a number of CPUs above 0")
    if options.pids_limit is not None and options.pids_limit < 0:
        raise UsageError(f"--pids-limit {options.pids_limit}: expected a number of processes (0: no limit)")
    if options.expect_gpus is not None and options.expect_gpus < 0:
        raise UsageError(f"--expect-gpus {options.expect_gpus}: expected 0 or more")


def _file_uris(request: Mapping[str, Any]) -> Iterator[Tuple[str, str, str]]:
    """(kind, field path, file:// URI) of every local placeholder in the request."""
    for index, item in enumerate(request.get("ProcessingInputs") or []):
        uri = (item.get("S3Input") or {}).get("S3Uri") or ""
        if uri.startswith("file:"):
            yield "input", f"ProcessingInputs[{index}].S3Input.S3Uri", uri
    for index, item in enumerate((request.get("ProcessingOutputConfig") or {}).get("Outputs") or []):
        uri = (item.get("S3Output") or {}).get("S3Uri") or ""
        if uri.startswith("file:"):
            yield "output", f"ProcessingOutputConfig.Outputs[{index}].S3Output.S3Uri", uri


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def confine_local_paths(request: Mapping[str, Any], options: RunOptions) -> None:
    """A job file (a repository's, so a pull request's) may name host folders (`file://`) only inside
    its own folder, or inside an `--allow-local-path` folder given on the command line: an input is
    copied into an untrusted container, an output written over. `--job-input`/`--job-output` flags are the
    user's own choice. Symlinks are resolved first. A breach is a usage error before any work."""
    from sm_lint.harness.jobspec import local_dir_of

    given = {os.path.realpath(local) for local, _ in options.overrides.inputs}
    given |= {os.path.realpath(local) for _, local in options.overrides.outputs}
    roots = [os.path.realpath(path) for path in options.allow_local_paths]
    where = options.job_file or "the request"
    if options.job_file:
        roots.append(os.path.realpath(os.path.dirname(os.path.abspath(options.job_file))))
    for kind, field_path, uri in _file_uris(request):
        local = local_dir_of(uri) or ""
        path = os.path.realpath(local)
        if path in given or any(_inside(path, root) for root in roots):
            continue
        raise UsageError(f"{where}: {field_path}: {uri} is outside the job file's folder"
                         f"{' (' + roots[-1] + ')' if options.job_file else ''}; a job file may name host folders "
                         f"only there, since the {kind} {'is copied into the container' if kind == 'input' else 'is written over'}: "
                         f"give --allow-local-path {local} to let it")


def prepare_outputs(request: Mapping[str, Any], options: RunOptions) -> None:
    """Every output's host folder made (as the job would) and proved writable before any container
    starts, so a bad destination costs no run."""
    import tempfile

    from sm_lint.harness.jobspec import local_dir_of

    for kind, field_path, uri in _file_uris(request):
        if kind != "output":
            continue
        folder = Path(local_dir_of(uri) or "")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            flag = [f"--job-output {container}:{local}" for container, local in options.overrides.outputs
                    if os.path.realpath(local) == os.path.realpath(folder)]
            what = flag[0] if flag else f"{options.job_file or 'the request'}: {field_path}"
            raise UsageError(f"{what}: cannot write to {folder}: {error.strerror or error}") from None


class _Prepared(NamedTuple):
    """One image's run up to the scenarios: settings, the request validated, the plan."""

    image: str
    options: RunOptions  # the scenarios expanded, the profile's stop signal and grace
    settings: Any
    today: datetime.date
    profile_name: str
    chosen: ProfileRun
    findings: List[Finding]  # SM300
    facts: List[Tuple[str, str]]
    shared: List[Tuple[str, str]]  # the facts of the engine's preparation, the same for every image
    plan: Any  # None: the request is invalid (SM300), nothing runs


def _prepare(image: str, options: RunOptions, catalogue: Catalogue, several: bool = False) -> _Prepared:
    from sm_lint.harness.jobspec import load_request, validate, validation_notes
    from sm_lint.stamping import stamp

    source = options.config_file or config.find_config(Path.cwd())
    settings = config.load(source) if source else config.Settings()
    catalogue.check_ids(list(options.ignore), "--ignore")
    catalogue.check_settings(settings)
    settings = settings.with_cli(options.ignore, fail_on=options.fail_on)
    today = datetime.date.today()
    check_options(options)
    compile_ready_log(options.ready_log)
    profile_name = options.profile or getattr(settings, "profile", None) or "processing"
    chosen = profile_run(options, profile_name)
    options = options._replace(scenarios=expand_scenarios(list(options.scenarios), chosen.profile.serves),
                               stop_signal=chosen.stop_signal, grace=chosen.grace)

    request = load_request(options.job_file, dataclasses.replace(options.overrides, image=image))
    confine_local_paths(request, options)
    if several:
        for kind, field_path, uri in _file_uris(request):
            if kind == "output":
                raise UsageError(f"{options.job_file or 'the request'}: {field_path}: {uri}: several images would "
                                 "write over each other's outputs in one local folder; give an s3:// URI or run one "
                                 "image at a time")
    facts: List[Tuple[str, str]] = [("image", image), ("profile", f"{profile_name}: {chosen.profile.command}"),
                                    ("scenarios", ", ".join(options.scenarios))]
    facts += [("note", note) for note in validation_notes()]
    shared: List[Tuple[str, str]] = []
    if options.sagemaker is not None:  # role, MaxRuntimeInSeconds and staging settled before validation
        from sm_lint.harness.sagemaker.engine import prepare

        shared = prepare(request, options.sagemaker, options.job_file or "the request", profile_name)
        facts += shared
    request_where = options.job_file or (image if several else "request")  # several: whose request it is
    request_hits = [("SM300", hit) for hit in validate(request)]
    if profile_name != "processing" and options.overrides.instance_type is not None:
        # The instance-type enum is Processing's (ProcessingInstanceType): not the list of the other
        # contracts' instance types, so it is not held against them.
        facts.append(("note", f"the instance type is not checked under --profile {profile_name} (SM300 knows "
                              "Processing's instance types only)"))
        request_hits = [(rule, hit) for rule, hit in request_hits
                        if not hit.message.startswith("ProcessingResources.ClusterConfig.InstanceType")]
    findings = stamp(request_hits, request_where, settings, catalogue, today)
    prepared = _Prepared(image, options, settings, today, profile_name, chosen, findings, facts, shared, None)
    if any(f.rule == "SM300" for f in findings) or (request_hits and "SM300" not in settings.ignored(today)):
        return prepared

    from sm_lint.harness.plan import make_plan

    prepare_outputs(request, options)
    return prepared._replace(plan=make_plan(request, image, profile_name, chosen.extra))


def _judged(prepared: _Prepared, outcomes: List[Any], catalogue: Catalogue,
            engine_facts: Sequence[Tuple[str, str]] = ()) -> RunResult:
    """The outcomes of one image's scenarios as findings, rules that ran and rules skipped."""
    from sm_lint.console import outside_reason
    from sm_lint.report import failed
    from sm_lint.stamping import stamp

    options, settings, profile_name, today = prepared.options, prepared.settings, prepared.profile_name, prepared.today
    findings = list(prepared.findings)
    facts = list(prepared.facts)
    skipped: List[Tuple[str, str]] = []
    rules = ["SM300"]
    if prepared.plan is None:
        facts.append(("not run", "the request breaks service limits (SM300): SageMaker would refuse it"))
        for scenario in options.scenarios:
            skipped += [(rule, f"{scenario}: not run, the request is invalid (SM300)") for rule in SCENARIO_RULES[scenario]]
        return RunResult(findings, failed(findings, settings.fail_on), settings.fail_on, tuple(facts),
                         tuple(skipped), tuple(rules), profile_name)
    facts += engine_facts
    hits: List[Tuple[str, Hit]] = []
    applies = {rule.id: rule.applies(profile_name) for rule in catalogue}
    for outcome in outcomes:
        facts += outcome.facts
        decided = [rule for rule in SCENARIO_RULES[outcome.scenario] if applies.get(rule, True)]
        skipped += [(rule, outside_reason(catalogue[rule], [profile_name]))
                    for rule in SCENARIO_RULES[outcome.scenario] if rule not in decided]
        if outcome.skipped:
            facts.append((f"{outcome.scenario} scenario", f"skipped: {outcome.skipped}"))
            skipped += [(rule, f"{outcome.scenario}: {outcome.skipped}") for rule in decided]
        else:
            rules += decided
            hits += [(rule, hit) for rule, hit in outcome.hits if rule in decided]
    if options.sagemaker is not None:  # what only a Docker engine shows
        from sm_lint.harness.sagemaker.engine import UNDECIDED

        skipped += [(rule, reason) for rule, reason in UNDECIDED.items() if rule in rules]
        rules = [rule for rule in rules if rule not in UNDECIDED]
    findings += stamp(hits, prepared.image, settings, catalogue, today)
    return RunResult(findings, failed(findings, settings.fail_on), settings.fail_on, tuple(facts),
                     tuple(skipped), tuple(r for r in rules if r not in settings.ignored(today)), profile_name)


def run_harness(image: str, options: RunOptions, catalogue: Catalogue, progress: Optional[Progress] = None) -> RunResult:
    prepared = _prepare(image, options, catalogue)
    if prepared.plan is None:
        return _judged(prepared, [], catalogue)
    options = prepared.options
    ready_log = compile_ready_log(options.ready_log)
    if options.sagemaker is not None:
        from sm_lint.harness.sagemaker.engine import run_for

        outcomes, engine_facts = run_for([prepared.plan], options, ready_log, progress or Progress(quiet=True))
        return _judged(prepared, outcomes[0], catalogue, engine_facts)
    return _judged(prepared, _run_scenarios(prepared.plan, options, ready_log, progress or Progress(quiet=True),
                                            prepared.chosen), catalogue)


SEVERAL_IMAGES_ENGINE = ("several images need --engine sagemaker (its jobs run side by side); the Docker engine "
                         "runs one image per `sm-lint run`")


def run_harness_many(images: Sequence[str], options: RunOptions, catalogue: Catalogue,
                     progress: Optional[Progress] = None) -> RunResult:
    """Several images in one run on the sagemaker engine: every image's request is checked before
    any job starts, then all their scenarios run as jobs of one run (`--jobs` at once over all),
    and one result comes back whose findings are each on its image. A rule counts as run only
    when it ran for every image; otherwise it is skipped, with the images and reasons."""
    if len(images) == 1:
        return run_harness(images[0], options, catalogue, progress)
    if options.sagemaker is None:
        raise UsageError(SEVERAL_IMAGES_ENGINE)
    prepared = [_prepare(image, options, catalogue, several=True) for image in images]
    runnable = [item for item in prepared if item.plan is not None]
    by_image: Dict[int, List[Any]] = {}
    engine_facts: List[Tuple[str, str]] = []
    if runnable:
        from sm_lint.harness.sagemaker.engine import run_for

        run_options = runnable[0].options
        outcomes, engine_facts = run_for([item.plan for item in runnable], run_options,
                                         compile_ready_log(run_options.ready_log), progress or Progress(quiet=True))
        by_image = {id(item): found for item, found in zip(runnable, outcomes)}
    results = [_judged(item, by_image.get(id(item), []), catalogue) for item in prepared]
    shared = prepared[0].shared
    facts = list(shared) + engine_facts
    facts += [(f"{image}: {label}", value) for image, result in zip(images, results)
              for label, value in result.facts if (label, value) not in shared]
    ran_everywhere = [rule for rule in results[0].rules if all(rule in result.rules for result in results)]
    reasons: Dict[str, List[Tuple[str, str]]] = {}
    for image, result in zip(images, results):
        for rule, reason in result.skipped:
            reasons.setdefault(rule, []).append((image, reason))
        for rule in result.rules:
            if rule not in ran_everywhere:
                reasons.setdefault(rule, []).append((image, "ran"))
    skipped = tuple((rule, why[0][1] if len(why) == len(images) and len({reason for _, reason in why}) == 1
                     else "; ".join(f"{image}: {reason}" for image, reason in why))
                    for rule, why in reasons.items() if rule not in ran_everywhere)
    findings = [finding for result in results for finding in result.findings]
    return RunResult(findings, any(result.failed for result in results), results[0].fail_on, tuple(facts), skipped,
                     tuple(ran_everywhere), results[0].profile)


def _runtime_words(plan) -> str:  # type: ignore[no-untyped-def]
    """How long the completion scenario may wait, said up front, with how to shorten it."""
    from sm_lint.harness.plan import DEFAULT_MAX_RUNTIME

    given = "MaxRuntimeInSeconds" in (plan.request.get("StoppingCondition") or {})
    why = "MaxRuntimeInSeconds" if given else f"the service's default MaxRuntimeInSeconds ({DEFAULT_MAX_RUNTIME} s)"
    return (f"waits until it ends, up to {plan.max_runtime} s ({why}); --max-runtime S or the job's "
            "StoppingCondition sets a shorter bound")


def _run_scenarios(plan, options: RunOptions, ready_log, progress: Progress, chosen: ProfileRun):  # type: ignore[no-untyped-def]
    from sm_lint.harness import completion, gpu, serving, stop
    from sm_lint.harness.gpus import gpu_count
    from sm_lint.harness.job import Limits
    from sm_lint.harness.lifecycle import Session
    from sm_lint.harness.outcome import Outcome
    from sm_lint.image.engine import connect, find_image

    client = connect(options.docker_host)
    try:
        found = find_image(client, plan.image, pull=options.pull)
        serve = chosen.serve
        if serve is not None:
            plan, serve = _bind_to_port(plan, serve, found.labels or {}, chosen.profile)
        limits = Limits(options.cpus, parse_memory(options.memory),
                        DEFAULT_PIDS_LIMIT if options.pids_limit is None else options.pids_limit or None)
        expected = options.expect_gpus if options.expect_gpus is not None else gpu_count(plan.instance_type)
        outcomes: List[Outcome] = []
        with Session(client) as session:
            # The job's own containers get GPUs when the instance has them, as on SageMaker; on an
            # engine without an NVIDIA runtime they run without (Job says so in its notes).
            gpus = options.gpus if options.gpus is not None else bool(expected)
            for scenario in options.scenarios:
                progress.step(f"{scenario} scenario: {_doing[scenario]} {plan.image}"
                              + (f"; {_runtime_words(plan)}" if scenario == "completion" else ""))
                if scenario == "serve":
                    outcomes.append(serving.run(session, plan, limits, gpus, serve))
                    if str((found.labels or {}).get(chosen.profile.get("multi_model_label"), "")).lower() == "true":
                        outcomes[-1].facts.append(("note", "the image carries the multi-models label: a multi-model "
                                                           "endpoint's /models API and /opt/ml/models are not checked"))
                elif scenario == "completion":
                    outcomes.append(completion.run(session, plan, limits, gpus, options.stop_signal, options.grace,
                                                   progress.note))
                elif scenario == "stop":
                    outcomes.append(stop.run(session, plan, limits, gpus, options.stop_signal, options.grace,
                                             options.stop_after, ready_log, options.ready_timeout))
                elif not expected and options.expect_gpus is None and not options.require_gpu \
                        and options.scenarios != ("gpu",):
                    outcomes.append(Outcome("gpu", [], [], skipped=f"{plan.instance_type} has no GPU "
                                                                   "(give --expect-gpus or --require-gpu to check anyway)"))
                else:
                    outcomes.append(gpu.run(session, plan, limits, options.expect_gpus, options.require_gpu))
        return outcomes
    finally:
        client.close()


def _bind_to_port(plan, serve, labels: Mapping[str, str], profile) -> Tuple[Any, Any]:  # type: ignore[no-untyped-def]
    """An image labelled accept-bind-to-port=true gets SAGEMAKER_BIND_TO_PORT and
    SAGEMAKER_SAFE_PORT_RANGE, as in an inference pipeline, and is probed on that port."""
    if str(labels.get(profile.get("bind_to_port_label"), "")).lower() != "true":
        return plan, serve
    port = int(profile.get("bind_to_port_run"))
    environment = dict(plan.environment, SAGEMAKER_BIND_TO_PORT=str(port),
                       SAGEMAKER_SAFE_PORT_RANGE=profile.get("safe_port_range_run"))
    return plan._replace(environment=environment), serve._replace(port=port)
