"""`sm-lint run IMAGE`: run the image the way SageMaker Processing does and report what the
service would see. Validates the request first (SM300: an invalid request never runs, as the
service would refuse it), then runs the chosen scenarios, each in containers that are removed at
the end (harness/lifecycle.py), also on Ctrl-C, SIGTERM and errors.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import List, NamedTuple, Optional, Pattern, Tuple

from sm_lint import config
from sm_lint.catalogue import Catalogue
from sm_lint.errors import UsageError
from sm_lint.findings import Finding, Hit
from sm_lint.harness.jobspec import Overrides
from sm_lint.progress import Progress

SCENARIOS = ("completion", "stop", "gpu", "all")


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
    memory: Optional[str] = None
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
    ready_log = compile_ready_log(options.ready_log)
    from sm_lint.harness.procstatus import signal_number

    try:
        signal_number(options.stop_signal)
    except ValueError as error:
        raise UsageError(f"--stop-signal: {error}") from None

    request = load_request(options.job_file, dataclasses.replace(options.overrides, image=image))
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
        limits = Limits(options.cpus, options.memory)
        expected = options.expect_gpus if options.expect_gpus is not None else gpu_count(plan.instance_type)
        outcomes: List[Outcome] = []
        with Session(client) as session:
            # The job's own containers get GPUs when the instance has them, as on SageMaker; on an
            # engine without an NVIDIA runtime they run without (Job says so in its notes).
            gpus = options.gpus if options.gpus is not None else bool(expected)
            for scenario in options.scenarios:
                progress.step(f"{scenario} scenario: {_doing[scenario]} {plan.image}")
                if scenario == "completion":
                    outcomes.append(completion.run(session, plan, limits, gpus, options.stop_signal, options.grace))
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
