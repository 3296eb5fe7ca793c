"""`sm-lint run IMAGE`: run the image the way SageMaker Processing does and report what the
service would see. Validates the request first (SM300: an invalid request never runs, as the
service would refuse it), then runs the chosen scenarios, each in containers that are removed at
the end (harness/lifecycle.py), also on Ctrl-C, SIGTERM and errors.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import re
from pathlib import Path
from typing import Any, Iterator, List, Mapping, NamedTuple, Optional, Pattern, Tuple

from sm_lint import config
from sm_lint.catalogue import Catalogue
from sm_lint.errors import UsageError
from sm_lint.findings import Finding, Hit
from sm_lint.harness.jobspec import Overrides
from sm_lint.progress import Progress

SCENARIOS = ("completion", "stop", "gpu", "all")
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
    stop_signal: str = "SIGINT"
    grace: float = 10.0
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


class RunResult(NamedTuple):
    findings: List[Finding]
    failed: bool
    fail_on: str
    facts: Tuple[Tuple[str, str], ...]
    skipped: Tuple[Tuple[str, str], ...]  # (scenario, reason)
    rules: Tuple[str, ...]  # runtime rules that ran


_doing = {"completion": "running", "stop": "starting and stopping", "gpu": "nvidia-smi in"}
# The rules each scenario decides; a skipped scenario skips these.
SCENARIO_RULES = {
    "completion": ("SM301", "SM302", "SM303"),
    "stop": ("SM310", "SM311", "SM312"),
    "gpu": ("SM320", "SM321"),
}


def expand_scenarios(names: List[str]) -> Tuple[str, ...]:
    chosen: List[str] = []
    for name in names or ["completion"]:
        for part in name.split(","):
            part = part.strip().lower()
            if part not in SCENARIOS:
                raise UsageError(f"--scenario {part!r}: expected one of {', '.join(SCENARIOS)}")
            for item in (SCENARIOS[:3] if part == "all" else (part,)):
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


def run_harness(image: str, options: RunOptions, catalogue: Catalogue, progress: Optional[Progress] = None) -> RunResult:
    from sm_lint.harness.jobspec import load_request, validate, validation_notes
    from sm_lint.report import failed
    from sm_lint.stamping import stamp

    source = options.config_file or config.find_config(Path.cwd())
    settings = config.load(source) if source else config.Settings()
    catalogue.check_ids(list(options.ignore), "--ignore")
    catalogue.check_settings(settings)
    settings = settings.with_cli(options.ignore, fail_on=options.fail_on)
    today = datetime.date.today()
    check_options(options)
    ready_log = compile_ready_log(options.ready_log)
    from sm_lint.harness.procstatus import signal_number

    try:
        signal_number(options.stop_signal)
    except ValueError as error:
        raise UsageError(f"--stop-signal: {error}") from None

    request = load_request(options.job_file, dataclasses.replace(options.overrides, image=image))
    confine_local_paths(request, options)
    facts: List[Tuple[str, str]] = [("image", image), ("scenarios", ", ".join(options.scenarios))]
    facts += [("note", note) for note in validation_notes()]
    request_where = options.job_file or "request"
    request_hits = [("SM300", hit) for hit in validate(request)]
    findings = stamp(request_hits, request_where, settings, catalogue, today)
    skipped: List[Tuple[str, str]] = []
    rules = ["SM300"]
    if any(f.rule == "SM300" for f in findings) or (request_hits and "SM300" not in settings.ignored(today)):
        facts.append(("not run", "the request breaks service limits (SM300): SageMaker would refuse it"))
        for scenario in options.scenarios:
            skipped += [(rule, f"{scenario}: not run, the request is invalid (SM300)") for rule in SCENARIO_RULES[scenario]]
        return RunResult(findings, failed(findings, settings.fail_on), settings.fail_on, tuple(facts),
                         tuple(skipped), tuple(rules))

    from sm_lint.harness.plan import make_plan

    prepare_outputs(request, options)
    plan = make_plan(request, image)
    outcomes = _run_scenarios(plan, options, ready_log, progress or Progress(quiet=True))
    hits: List[Tuple[str, Hit]] = []
    for outcome in outcomes:
        facts += outcome.facts
        if outcome.skipped:
            facts.append((f"{outcome.scenario} scenario", f"skipped: {outcome.skipped}"))
            skipped += [(rule, f"{outcome.scenario}: {outcome.skipped}") for rule in SCENARIO_RULES[outcome.scenario]]
        else:
            rules += SCENARIO_RULES[outcome.scenario]
            hits += outcome.hits
    findings += stamp(hits, image, settings, catalogue, today)
    return RunResult(findings, failed(findings, settings.fail_on), settings.fail_on, tuple(facts),
                     tuple(skipped), tuple(r for r in rules if r not in settings.ignored(today)))


def _runtime_words(plan) -> str:  # type: ignore[no-untyped-def]
    """How long the completion scenario may wait, said up front, with how to shorten it."""
    from sm_lint.harness.plan import DEFAULT_MAX_RUNTIME

    given = "MaxRuntimeInSeconds" in (plan.request.get("StoppingCondition") or {})
    why = "MaxRuntimeInSeconds" if given else f"the service's default MaxRuntimeInSeconds ({DEFAULT_MAX_RUNTIME} s)"
    return (f"waits until it ends, up to {plan.max_runtime} s ({why}); --max-runtime S or the job's "
            "StoppingCondition sets a shorter bound")


def _run_scenarios(plan, options: RunOptions, ready_log, progress: Progress):  # type: ignore[no-untyped-def]
    from sm_lint.harness import completion, gpu, stop
    from sm_lint.harness.gpus import gpu_count
    from sm_lint.harness.job import Limits
    from sm_lint.harness.lifecycle import Session
    from sm_lint.harness.outcome import Outcome
    from sm_lint.image.engine import connect, find_image

    client = connect(options.docker_host)
    try:
        find_image(client, plan.image, pull=options.pull)
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
                if scenario == "completion":
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
