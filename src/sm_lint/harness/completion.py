"""The completion scenario: run the job to its end under MaxRuntimeInSeconds and judge it as
SageMaker does. Completed iff every container exits 0 (otherwise Failed, "AlgorithmError: See job
logs for more information"); the first 1 KB of /opt/ml/output/message becomes ExitMessage, and a
message that is not UTF-8 fails the job with a ClientError. Outputs are collected afterwards.

Under the training profile the job is a training job: the first 1,024 characters of
/opt/ml/output/failure become its FailureReason (SM301 carries them), there is no exit message, and
a job that exits 0 with nothing in /opt/ml/model uploads an empty model.tar.gz (SM341).
"""
from __future__ import annotations

import time
from typing import Callable, List, Optional, Tuple

from sm_lint.findings import Hit
from sm_lint.harness.job import Job, Limits
from sm_lint.harness.lifecycle import Session
from sm_lint.harness.outcome import Outcome, Timeline, exit_words, log_evidence
from sm_lint.harness.plan import JobPlan
from sm_lint.profiles import get as get_profile

MESSAGE_LIMIT = 1024
LOG_LINES = 20
LOG_FACT_LINES = 5  # the end of every host's log, in the report's facts
NOTE_AFTER = 30.0  # seconds of a running job before the first "still running" progress note


def run(session: Session, plan: JobPlan, limits: Limits, gpus: bool, stop_signal: str, grace: float,
        note: Callable[[str], None] = lambda text: None) -> Outcome:
    job = Job(session, plan, "completion", limits, gpus)
    hits: List[Tuple[str, Hit]] = []
    facts: List[Tuple[str, str]] = []
    timeline = Timeline()
    failure = job.launch()
    if failure is not None:
        hits.append(("SM301", Hit(0, f"{failure.host}: the container could not start: {failure.message}; "
                                     "the job would be Failed", fix="make the image start as `docker run IMAGE` does")))
        facts.append(("job", "Failed: the container could not start"))
        return Outcome("completion", hits, facts)
    timeline.restart(job.started_at)
    facts += [("note", note) for note in job.notes]
    timeline.add(f"{len(job.containers)} container{'s' if len(job.containers) > 1 else ''} started")
    late: List[str] = []
    if not _wait_noting(job, plan.max_runtime, note):
        late = job.running()
        timeline.add(f"MaxRuntimeInSeconds ({plan.max_runtime}) reached: {', '.join(late)} still running; "
                     f"{stop_signal} sent")
        job.signal(stop_signal)
        if not job.wait(grace):
            timeline.add(f"still running after the {grace:g} s grace: SIGKILL sent")
            job.signal("SIGKILL")
            job.wait(30)
        for host in late:
            hits.append(("SM303", Hit(0, f"{host}: still running after MaxRuntimeInSeconds={plan.max_runtime}; "
                                         "SageMaker stops the job and it ends as Failed",
                                      fix="raise --max-runtime / StoppingCondition.MaxRuntimeInSeconds, or make the "
                                          "job finish sooner", evidence=log_evidence(host, job.log_tail(host, LOG_LINES)))))
    for host, ended in sorted(job.exits.items()):
        timeline.add(f"{host} {exit_words(ended.code, ended.oom_killed)}", job.started_at + ended.seconds)
    training = plan.profile == "training"
    contract = get_profile(plan.profile)
    failures: dict = {}
    if training:  # training has no exit message; its failure file is the FailureReason
        messages: dict = {}
        failures = {host: job.read_file(host, contract.get("failure_file")) for host in job.containers}
    else:
        messages = {host: job.exit_message(host) for host in job.containers}
    for host in sorted(job.exits):
        ended = job.exits[host]
        message = _message_text(messages.get(host))
        if ended.code != 0 and host not in late:  # a runtime-limit kill is SM303's event alone
            evidence = list(log_evidence(host, job.log_tail(host, LOG_LINES)))
            if message:
                evidence.append(f"ExitMessage: {message[:MESSAGE_LIMIT].strip()}")
            reason = _failure_reason(failures.get(host), contract.get("failure_reason_chars", MESSAGE_LIMIT))
            if training:
                evidence.insert(0, f"FailureReason: {reason}" if reason else
                                f"FailureReason: none written ({contract.get('failure_file')} is missing or empty)")
            said = (f"Failed (AlgorithmError: {reason})" if reason else "Failed (AlgorithmError: See job logs for more information)")
            where = contract.get("failure_file") if training else "/opt/ml/output/message"
            hits.append(("SM301", Hit(0, f"{host} {exit_words(ended.code, ended.oom_killed)}: the job would be "
                                         f"{said}",
                                      fix=f"exit 0 when the work is done; write the reason of a failure to {where}",
                                      evidence=tuple(evidence))))
    for host, raw in sorted(messages.items()):
        if raw is not None and _message_text(raw) is None:
            hits.append(("SM302", _bad_message(host, raw)))
    model_dir = contract.get("model_dir")
    if training and job.exits and all(ended.code == 0 for ended in job.exits.values()) and not late:
        empty = [host for host in sorted(job.containers) if job.count_files(host, model_dir) == 0]
        if len(empty) == len(job.containers):
            hits.append(("SM341", Hit(0, f"the job exited 0 but wrote nothing to {model_dir}: SageMaker would upload an "
                                         "empty model.tar.gz and report the job Completed",
                                      fix=f"save the trained model under {model_dir} (SM_MODEL_DIR) before exiting",
                                      evidence=log_evidence(empty[0], job.log_tail(empty[0], 10)))))
    completed = not [hit for rule, hit in hits if rule != "SM341"]
    verdict = "Completed" if completed else ("Failed (ClientError: the exit message is not UTF-8)"
                                              if all(rule == "SM302" for rule, _ in hits) else
                                              "Failed (AlgorithmError: See job logs for more information)")
    reasons = [_failure_reason(raw, contract.get("failure_reason_chars")) for _, raw in sorted(failures.items()) if raw]
    if not completed and reasons:
        verdict = f"Failed (AlgorithmError: {reasons[0]})"
    facts.append(("job", verdict))
    for host, raw in sorted(messages.items()):
        text = _message_text(raw)
        if text:
            facts.append((f"ExitMessage {host}", text[:MESSAGE_LIMIT].strip()))
    for host, raw in sorted(failures.items()):
        if raw:
            facts.append((f"FailureReason {host}", _failure_reason(raw, contract.get("failure_reason_chars"))))
    for host in sorted(job.exits):
        facts.append((f"log {host}", " | ".join(job.log_tail(host, LOG_FACT_LINES)) or "(empty)"))
    for name, host, written, refused in job.collect_outputs():
        facts.append((f"output {name} from {host}", f"{written} file{'s' if written != 1 else ''} collected"
                      + (f"; refused: {'; '.join(refused)}" if refused else "")))
    for item in plan.outputs:
        if item.local_dir is None:
            facts.append((f"output {item.name}", "not collected (an S3 destination; give --job-output LOCALPATH:LOCAL_DIR)"))
    facts.append(("timeline", " | ".join(timeline.lines)))
    return Outcome("completion", hits, facts)


def _wait_noting(job: Job, limit: float, note: Callable[[str], None]) -> bool:
    """`job.wait(limit)`, saying now and then (after 30 s, then at doubling intervals up to every
    10 minutes) that the job is still running and how long it may still take."""
    started = time.monotonic()
    interval = NOTE_AFTER
    while True:
        elapsed = time.monotonic() - started
        if job.wait(min(interval, max(limit - elapsed, 0))):
            return True
        elapsed = time.monotonic() - started
        if elapsed >= limit:
            return False
        note(f"{', '.join(job.running())} still running after {elapsed:.0f} s; stopped at MaxRuntimeInSeconds="
             f"{limit:g} s at the latest (--max-runtime S to shorten)")
        interval = min(interval * 2, 600.0)


def _failure_reason(raw: Optional[bytes], chars: int) -> str:
    """The first `chars` characters of a training failure file, as DescribeTrainingJob shows them."""
    if not raw:
        return ""
    return raw.decode("utf-8", "replace")[:chars].strip()


def _message_text(raw: Optional[bytes]) -> Optional[str]:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _bad_message(host: str, raw: bytes) -> Hit:
    try:
        raw.decode("utf-8")
        offset = 0
    except UnicodeDecodeError as error:
        offset = error.start
    return Hit(0, f"{host}: /opt/ml/output/message is not UTF-8 (byte {offset}: {raw[offset:offset + 4]!r}); "
                  "SageMaker fails the job with a ClientError instead of showing it as ExitMessage",
               fix="write the exit message as UTF-8 text (at most 1 KB is kept)")
