"""The scenarios as SageMaker Processing jobs, judged from what the service shows: the job's
status, FailureReason and ExitMessage (DescribeProcessingJob), and each host's log
(CloudWatch Logs). The rule ids, messages, evidence and facts have the Docker engine's shape
(completion.py, stop.py, gpu.py); where the service hides what the engine shows (exit codes, PID 1,
the signal a container died of), the verdict says "may" and names the command that settles it.

Sources: "How Amazon SageMaker Processing Runs Your Processing Container Image" (Completed iff every
container exits 0, else Failed with "AlgorithmError: See job logs for more information"; the first
1 KB of /opt/ml/output/message is ExitMessage, a message that is not UTF-8 fails the job with a
ClientError); API_StopProcessingJob (SIGINT, then SIGKILL); a job past MaxRuntimeInSeconds ends
Stopped with no FailureReason (observed by users: github.com/spore-host/spawn/issues/106).
"""
from __future__ import annotations

import re
import time
from copy import deepcopy
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Pattern, Tuple

from sm_lint.findings import Hit
from sm_lint.harness import gpu as gpu_verdicts
from sm_lint.harness.completion import LOG_FACT_LINES, LOG_LINES, MESSAGE_LIMIT
from sm_lint.harness.gpus import gpu_count
from sm_lint.harness.outcome import Outcome, Timeline, log_evidence
from sm_lint.harness.plan import JobPlan
from sm_lint.harness.sagemaker.aws import Clients
from sm_lint.harness.sagemaker.logs import Logs
from sm_lint.harness.sagemaker.service import NAME_PREFIX, Jobs, Refused, terminal
from sm_lint.harness.sagemaker.staging import Download, S3Place, download, place_outputs

# How long a job may take to reach its container beyond MaxRuntimeInSeconds before sm-lint stops
# waiting (and stops it): provisioning and the image pull take minutes, and the service was seen
# ending a 60 s job only after ~350 s (github.com/apache/airflow/pull/33982).
START_ALLOWANCE = 1200.0
STOP_WAIT = 900.0  # the longest wait from StopProcessingJob to a final status
STOP_SIGNAL = "SIGINT"  # what StopProcessingJob sends (profiles.toml [processing])
FIX_EXIT = "exit 0 when the work is done; write the reason of a failure to /opt/ml/output/message"
_EXIT_CODE = re.compile(r"exit(?:ed with)? code:?\s*(\d+)", re.I)
_MESSAGE_FAILURE = re.compile(r"utf-?8|exit message|/opt/ml/output/message", re.I)


class Context(NamedTuple):
    clients: Clients
    jobs: Jobs
    plan: JobPlan
    request: Dict[str, Any]  # validated, inputs staged; each scenario's job is a copy
    stop_after: float
    ready_log: Optional[Pattern[str]]
    ready_timeout: float
    grace: float  # SM310: seconds from StopProcessingJob to Stopped beyond which SIGKILL may have come
    expect_gpus: Optional[int]
    require_gpu: bool
    staging: Optional[S3Place]  # s3://bucket/prefix/<run id> for local outputs
    note: Callable[[str], None]
    label: str = ""  # several images in one run: the image's number, the end of its jobs' names

    def name(self, scenario: str) -> str:
        return f"{NAME_PREFIX}{scenario}-{self.jobs.run_id}" + (f"-{self.label}" if self.label else "")

    def request_for(self, scenario: str) -> Tuple[Dict[str, Any], List[Download]]:
        """The scenario's own job: a unique name, the run's tags after the request's own, and local
        outputs written under the staging prefix."""
        request = deepcopy(self.request)
        request["ProcessingJobName"] = self.name(scenario)
        own = [tag for tag in request.get("Tags") or [] if not str(tag.get("Key", "")).startswith("sm-lint:")]
        request["Tags"] = own + self.jobs.tags(scenario, self.plan.image)
        if self.staging is None:
            return request, []
        return place_outputs(request, self.staging.child(request["ProcessingJobName"]))


def completion(ctx: Context) -> Outcome:
    plan = ctx.plan
    request, downloads = ctx.request_for("completion")
    name = request["ProcessingJobName"]
    facts: List[Tuple[str, str]] = [("job completion", name)]
    timeline = Timeline()
    try:
        ctx.jobs.create(request)
    except Refused as refused:
        return Outcome("completion", [], facts, skipped=_refused(refused))
    timeline.add(f"CreateProcessingJob {name}")
    found = ctx.jobs.wait(name, terminal, plan.max_runtime + START_ALLOWANCE, _noting(ctx, name))
    if found is None:
        return _gave_up(ctx, "completion", name, facts, timeline, plan.max_runtime)
    status = str(found.get("ProcessingJobStatus"))
    failure = str(found.get("FailureReason") or "")
    timeline.add(status + (f" ({failure})" if failure else ""))
    logs = Logs(ctx.clients.logs, name)
    tails = {host: logs.tail(host, LOG_LINES) for host in plan.hosts}
    exit_message = str(found.get("ExitMessage") or "")[:MESSAGE_LIMIT].strip()
    hits: List[Tuple[str, Hit]] = []
    skipped: Optional[str] = None
    if status == "Stopped" and name not in ctx.jobs.stopped_by_us:
        for host in plan.hosts:
            hits.append(("SM303", Hit(0, f"{host}: still running at MaxRuntimeInSeconds={plan.max_runtime}; SageMaker "
                                         f"stopped the job (Stopped, {failure or 'no FailureReason'})",
                                      fix="raise --max-runtime / StoppingCondition.MaxRuntimeInSeconds, or make the "
                                          "job finish sooner", evidence=log_evidence(host, tails[host]))))
    elif status == "Failed" and _MESSAGE_FAILURE.search(failure) and failure.startswith("ClientError"):
        hits.append(("SM302", Hit(0, f"{_hosts(plan)}: /opt/ml/output/message was refused: SageMaker failed the job "
                                     f"with {failure!r} instead of showing it as ExitMessage",
                                  fix="write the exit message as UTF-8 text (at most 1 KB is kept)")))
    elif status == "Failed" and failure.split(":", 1)[0] in ("ClientError", "InternalServerError"):
        skipped = (f"SageMaker failed the job before judging the container ({failure}): a problem of the request, the "
                   "role, the image's registry or the service, not a verdict on the image")
    elif status == "Failed":
        evidence = [line for host in plan.hosts for line in log_evidence(host, tails[host])]
        if exit_message:
            evidence.append(f"ExitMessage: {exit_message}")
        hits.append(("SM301", Hit(0, f"{_hosts(plan)}: the job is Failed ({failure or 'no FailureReason'}): a container "
                                     "exited with a non-zero code", fix=FIX_EXIT, evidence=tuple(evidence))))
    facts.append(("job", status + (f" ({failure})" if failure else "")))
    if exit_message:
        facts.append(("ExitMessage", exit_message))
    for host in plan.hosts:
        facts.append((f"log {host}", " | ".join(tails[host][-LOG_FACT_LINES:]) or "(no log stream: it wrote nothing)"))
    for item in downloads:
        written, refused = download(ctx.clients.s3, item)
        facts.append((f"output {item.name}", f"{written} file{'s' if written != 1 else ''} downloaded from "
                      f"{item.place.uri} to {item.local_dir}" + (f"; refused: {'; '.join(refused)}" if refused else "")))
    facts += _service_times(found)
    facts.append(("timeline", " | ".join(timeline.lines)))
    return Outcome("completion", hits, facts, skipped=skipped)


def stop(ctx: Context) -> Outcome:
    plan = ctx.plan
    request, _ = ctx.request_for("stop")
    name = request["ProcessingJobName"]
    first = plan.hosts[0]
    facts: List[Tuple[str, str]] = [("job stop", name)]
    timeline = Timeline()
    try:
        ctx.jobs.create(request)
    except Refused as refused:
        return Outcome("stop", [], facts, skipped=_refused(refused))
    timeline.add(f"CreateProcessingJob {name}")
    logs = Logs(ctx.clients.logs, name)
    ended = _wait_started(ctx, name, logs, first, timeline)
    if ended is None:
        ended = _wait_ready(ctx, name, logs, first, timeline)
    if ended is not None:
        facts.append(("stop timeline", " | ".join(timeline.lines)))
        return Outcome("stop", [], facts, skipped=f"the job ended by itself before StopProcessingJob ({ended}); use a "
                                                  "shorter --stop-after or a --ready-log that matches earlier")
    signalled = timeline.add(f"StopProcessingJob sent (SageMaker sends {STOP_SIGNAL}, then SIGKILL)")
    ctx.jobs.stop(name)

    def seen(found: Dict[str, Any], elapsed: float) -> None:
        status = found.get("ProcessingJobStatus")
        if status == "Stopping" and not any(line.endswith(" Stopping") for line in timeline.lines):
            timeline.add("Stopping")

    found = ctx.jobs.wait(name, terminal, STOP_WAIT, seen, interval=ctx.jobs.stop_poll)
    if found is None:
        timeline.add(f"not Stopped {STOP_WAIT:g} s after StopProcessingJob")
        facts.append(("stop timeline", " | ".join(timeline.lines)))
        return Outcome("stop", [], facts, skipped=f"the job was not Stopped within {STOP_WAIT:g} s of StopProcessingJob")
    status = str(found.get("ProcessingJobStatus"))
    done = timeline.add(status + (f" ({found['FailureReason']})" if found.get("FailureReason") else ""))
    took = done - signalled
    tail = logs.tail(first, 10)
    if status != "Stopped":
        facts.append(("stop timeline", " | ".join(timeline.lines)))
        return Outcome("stop", [], facts, skipped=f"the job ended {status} before the stop took effect; use a shorter "
                                                  "--stop-after or a --ready-log that matches earlier")
    hits: List[Tuple[str, Hit]] = []
    if took > ctx.grace:
        hits.append(("SM310", Hit(0, f"{first}: {took:.0f} s from StopProcessingJob to Stopped, more than the {ctx.grace:g} s "
                                     f"grace: the container may not have exited on {STOP_SIGNAL} and may have needed "
                                     "SIGKILL, losing its work in progress (SageMaker does not say how a stopped "
                                     "container ended; `sm-lint run --scenario stop IMAGE` on a Docker engine shows it)",
                                  fix=f"handle {STOP_SIGNAL} in PID 1: finish or checkpoint, then exit",
                                  evidence=tuple(timeline.lines) + log_evidence(first, tail))))
    exit_message = str(found.get("ExitMessage") or "").strip()
    if exit_message:
        facts.append(("ExitMessage", exit_message[:MESSAGE_LIMIT]))
    facts.append((f"log {first}", " | ".join(tail[-LOG_FACT_LINES:]) or "(no log stream: it wrote nothing)"))
    facts += _service_times(found)
    facts.append(("stop timeline", " | ".join(timeline.lines)))
    facts.append(("stop verdict", f"Stopped {took:.0f} s after StopProcessingJob: " + (
        f"{STOP_SIGNAL} may not have been honoured (more than the {ctx.grace:g} s grace)" if hits
        else f"{STOP_SIGNAL} honoured within the {ctx.grace:g} s grace")))
    return Outcome("stop", hits, facts)


def gpu(ctx: Context) -> Outcome:
    plan = ctx.plan
    has = gpu_count(plan.instance_type)
    expected = ctx.expect_gpus if ctx.expect_gpus is not None else has
    facts: List[Tuple[str, str]] = [("GPUs expected", gpu_verdicts.expected_words(expected, plan.instance_type,
                                                                                  ctx.expect_gpus))]
    if has == 0:
        if ctx.require_gpu:
            return Outcome("gpu", [("SM320", Hit(0, f"--require-gpu, but {plan.instance_type} has no GPU",
                                                 fix="give a GPU --instance-type, such as ml.g5.xlarge"))], facts)
        return Outcome("gpu", [], [], skipped=f"{plan.instance_type} has no GPU: a job there checks none (give a GPU "
                                              "--instance-type, such as ml.g5.xlarge)")
    request, _ = ctx.request_for("gpu")
    request["AppSpecification"] = dict(request["AppSpecification"], ContainerEntrypoint=["nvidia-smi"],
                                       ContainerArguments=list(gpu_verdicts.QUERY))
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 1
    request.pop("ProcessingInputs", None)  # nvidia-smi reads nothing and writes nothing
    request.pop("ProcessingOutputConfig", None)
    name = request["ProcessingJobName"]
    facts.append(("job gpu", name))
    try:
        ctx.jobs.create(request)
    except Refused as refused:
        return Outcome("gpu", [], facts, skipped=_refused(refused))
    found = ctx.jobs.wait(name, terminal, plan.max_runtime + START_ALLOWANCE, _noting(ctx, name))
    if found is None:
        return _gave_up(ctx, "gpu", name, facts, Timeline(), plan.max_runtime)
    status = str(found.get("ProcessingJobStatus"))
    failure = str(found.get("FailureReason") or "")
    output = Logs(ctx.clients.logs, name).tail("algo-1", 200)
    facts[-1] = ("job gpu", f"{name}: {status}" + (f" ({failure})" if failure else ""))  # "job" is completion's
    if status == "Completed":
        return gpu_verdicts.judge_exit(0, output, facts, expected, plan.instance_type, ctx.expect_gpus)
    if status == "Stopped":
        return Outcome("gpu", [("SM320", Hit(0, f"nvidia-smi did not finish within MaxRuntimeInSeconds={plan.max_runtime}",
                                             evidence=tuple(output)))], facts)
    if gpu_verdicts.FILE_EXISTS.search(failure) or gpu_verdicts.CUDA_REQUIREMENT.search(failure):
        return gpu_verdicts.start_failure(failure, facts, ctx.require_gpu)
    code = _EXIT_CODE.search(failure)
    return gpu_verdicts.judge_exit(int(code.group(1)) if code else 1, output + [f"FailureReason: {failure}"], facts,
                                   expected, plan.instance_type, ctx.expect_gpus)


SCENARIOS: Dict[str, Callable[[Context], Outcome]] = {"completion": completion, "stop": stop, "gpu": gpu}


# -- waiting ---------------------------------------------------------------------------------
def _wait_started(ctx: Context, name: str, logs: Logs, host: str, timeline: Timeline) -> Optional[str]:
    """Until the host's log stream appears (its container runs and has written); the final status
    when the job ended first, else None. A container that writes nothing has no stream: after
    START_ALLOWANCE the scenario goes on anyway, and says so."""
    started = time.monotonic()
    delay = ctx.jobs.poll_first
    while True:
        found = ctx.jobs.describe(name)
        if terminal(found):
            return _status_words(found)
        if host in logs.streams():
            timeline.add(f"{host}'s log stream appeared: its container is running")
            return None
        elapsed = time.monotonic() - started
        if elapsed >= START_ALLOWANCE:
            timeline.add(f"no log stream of {host} after {elapsed:.0f} s; going on as if it were running")
            return None
        ctx.note(f"{name}: {found.get('ProcessingJobStatus')}, waiting for {host}'s container ({elapsed:.0f} s)")
        ctx.jobs.sleep(delay)
        delay = min(delay * 1.5, ctx.jobs.poll_max)


def _wait_ready(ctx: Context, name: str, logs: Logs, host: str, timeline: Timeline) -> Optional[str]:
    """`--stop-after` seconds, or until a line of the host matches `--ready-log`; the final status
    when the job ended first, else None."""
    started = time.monotonic()
    limit = ctx.ready_timeout if ctx.ready_log is not None else ctx.stop_after
    while True:
        found = ctx.jobs.describe(name)
        if terminal(found):
            return _status_words(found)
        if ctx.ready_log is not None and any(ctx.ready_log.search(line) for line in logs.follow(host)):
            timeline.add(f"log matched {ctx.ready_log.pattern!r}")
            return None
        elapsed = time.monotonic() - started
        if elapsed >= limit:
            timeline.add(f"--ready-log {ctx.ready_log.pattern!r} not seen within {limit:g} s; stopping anyway"
                         if ctx.ready_log is not None else f"running for {limit:g} s")
            return None
        ctx.jobs.sleep(min(ctx.jobs.stop_poll, max(limit - elapsed, 0.0)))


def _noting(ctx: Context, name: str) -> Callable[[Dict[str, Any], float], None]:
    def note(found: Dict[str, Any], elapsed: float) -> None:
        ctx.note(f"{name}: {found.get('ProcessingJobStatus')} after {elapsed:.0f} s")
    return note


def _gave_up(ctx: Context, scenario: str, name: str, facts: List[Tuple[str, str]], timeline: Timeline,
             max_runtime: int) -> Outcome:
    ctx.jobs.stop(name)
    waited = max_runtime + START_ALLOWANCE
    timeline.add(f"still InProgress after {waited:g} s: StopProcessingJob sent")
    facts.append(("timeline", " | ".join(timeline.lines)))
    return Outcome(scenario, [], facts, skipped=f"the job was still InProgress after {waited:g} s (MaxRuntimeInSeconds "
                                                f"{max_runtime} + {START_ALLOWANCE:g} s to start): sm-lint stopped it; "
                                                "no verdict")


def _refused(refused: Refused) -> str:
    return f"SageMaker refused CreateProcessingJob ({refused.code}: {refused.message})"


def _status_words(found: Dict[str, Any]) -> str:
    status = str(found.get("ProcessingJobStatus"))
    return status + (f": {found['FailureReason']}" if found.get("FailureReason") else "")


def _hosts(plan: JobPlan) -> str:
    return plan.hosts[0] if len(plan.hosts) == 1 else f"{plan.hosts[0]}..{plan.hosts[-1]}"


def _service_times(found: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The service's own times of the job, relative to CreationTime (its clock, not this machine's)."""
    created = found.get("CreationTime")
    if created is None or not hasattr(created, "timestamp"):
        return []
    parts = []
    for key in ("ProcessingStartTime", "ProcessingEndTime", "LastModifiedTime"):
        moment = found.get(key)
        if moment is not None and hasattr(moment, "timestamp"):
            parts.append(f"{key} t+{moment.timestamp() - created.timestamp():.0f}s")
    return [("service times", f"CreationTime {created.isoformat()} | " + " | ".join(parts))] if parts else []

