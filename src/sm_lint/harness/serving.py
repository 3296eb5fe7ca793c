"""The serve scenario (`--profile inference|batch-transform`): start the container as SageMaker
hosting does (`docker run IMAGE serve`, the model under /opt/ml/model), then talk to it as the
platform does, over the network (probe.py):

- GET /ping until it answers HTTP 200 within the start-up limit (ContainerStartupHealthCheck-
  TimeoutInSeconds, `--startup-timeout`): SM330 when it never does (saying whether nothing listened
  on the port, the answers were not 200, or the container exited);
- each /ping measured against the 2 s the page allows: SM331;
- batch transform: GET /execution-parameters, reported as it answers (it is optional);
- `--payload FILE` sent to POST /invocations within `--invocations-timeout`: SM332 when the answer is
  not 2xx, the connection breaks, or no answer comes in time.

Sources: "Use Your Own Inference Code with Hosting Services" (your-algorithms-inference-code),
"Use Your Own Inference Code with Batch Transform" (your-algorithms-batch-code), ProductionVariant
(ContainerStartupHealthCheckTimeoutInSeconds), ModelClientConfig (InvocationsTimeoutInSeconds).
The numbers are data/profiles.toml's.
"""
from __future__ import annotations

import time
from typing import Dict, List, NamedTuple, Optional, Tuple

from sm_lint.findings import Hit
from sm_lint.harness.job import Job, Limits
from sm_lint.harness.lifecycle import Session
from sm_lint.harness.outcome import Outcome, Timeline, exit_words, log_evidence
from sm_lint.harness.plan import JobPlan
from sm_lint.harness.probe import Answer, Probe, Unavailable
from sm_lint.profiles import Profile
from sm_lint.terminal import printable

# Not contract numbers (the pages state neither): how often the harness asks, and how long it waits
# for one slow /ping so that its time can be told (past the 2 s it already counts as failed).
PING_INTERVAL = 1.0
SLOW_PING_WAIT = 10.0
SLOW_PINGS_ENOUGH = 3  # consecutive slow answers: the verdict will not change by waiting longer
BODY_SHOWN = 300


class ServeSettings(NamedTuple):
    profile: Profile
    port: int  # 8080, or SAGEMAKER_BIND_TO_PORT for a labelled image
    startup_timeout: float
    invocations_timeout: float
    payload: Optional[bytes] = None
    content_type: Optional[str] = None
    accept: Optional[str] = None
    payload_name: str = ""


class _Pings(NamedTuple):
    healthy_after: Optional[float]  # seconds from start to the first fast 200
    answers: List[Answer]
    slow: List[Answer]  # 200s over the limit
    exited: Optional[str]  # the container's exit, when it ended before it was healthy


def run(session: Session, plan: JobPlan, limits: Limits, gpus: bool, settings: ServeSettings) -> Outcome:
    profile = settings.profile
    job = Job(session, plan, "serve", limits, gpus, networked=True)
    hits: List[Tuple[str, Hit]] = []
    facts: List[Tuple[str, str]] = []
    timeline = Timeline()
    failure = job.launch()
    if failure is not None:
        hits.append(("SM330", Hit(0, f"{failure.host}: the container could not start ({failure.message}), so /ping "
                                     "never answers: SageMaker would fail the endpoint",
                                  fix=f"make `{profile.command}` start the model server")))
        return Outcome("serve", hits, facts)
    timeline.restart(job.started_at)
    facts += [("note", note) for note in job.notes]
    timeline.add(f"started with `serve`; /ping polled on port {settings.port}")
    try:
        probe = Probe(session, job.network, "serve")
    except Unavailable as reason:
        return Outcome("serve", [], [], skipped=str(reason))
    limit = float(profile.get("ping_timeout_seconds"))
    for host in plan.hosts:
        address = job.address(host)
        if address is None:
            return Outcome("serve", [], [], skipped=f"{host} has no address on the job's network")
        pings = _poll(job, probe, host, address, settings, limit)
        if pings.healthy_after is not None:
            timeline.add(f"{host} healthy: /ping answered HTTP 200 in {pings.answers[-1].seconds:.3f} s",
                         job.started_at + pings.healthy_after)
        if pings.slow:
            slowest = max(pings.slow, key=lambda answer: answer.total_ms)
            never = pings.healthy_after is None
            hits.append(("SM331", Hit(0, f"{host}: GET /ping answered HTTP 200 in {slowest.seconds:.3f} s, over the "
                                         f"{limit:g} s SageMaker allows; it counts such a ping as failed"
                                         + (" and, while every ping is this slow, never sends traffic to the container"
                                            if never else " and may take the instance out of service"),
                                      fix="answer /ping at once from memory (load the model before the server "
                                          "listens, not in the ping handler)",
                                      evidence=tuple(f"/ping: {answer.words()}" for answer in pings.slow[:5]))))
        elif pings.healthy_after is None:
            hits.append(("SM330", _unhealthy(job, probe, host, settings, pings, profile)))
        facts.append((f"/ping {host}", _ping_summary(pings)))
        if pings.healthy_after is None:
            continue
        if profile.get("execution_parameters_path"):
            facts.append(_execution_parameters(probe, address, settings, profile, limit))
        if settings.payload is None:
            facts.append((f"/invocations {host}", "not sent (give --payload FILE to check POST /invocations)"))
            continue
        probe.put_body(settings.payload)
        answer = probe.request("POST", address, settings.port, "/invocations", settings.invocations_timeout, body=True,
                               content_type=settings.content_type, accept=settings.accept)
        said = f"POST /invocations ({settings.payload_name}, {len(settings.payload)} bytes): {answer.words()}"
        timeline.add(f"{host} {said}")
        facts.append((f"/invocations {host}", said + _body_words(answer)))
        if answer.error is not None or not 200 <= answer.status < 300:
            hits.append(("SM332", _invocation_failed(job, host, answer, settings)))
    facts.append(("serve timeline", " | ".join(timeline.lines)))
    for container in list(job.containers.values()) + [probe.container]:
        session.remove_container(container)  # the stop scenario starts its own
    return Outcome("serve", hits, facts)


def _poll(job: Job, probe: Probe, host: str, address: str, settings: ServeSettings, limit: float) -> _Pings:
    """GET /ping every PING_INTERVAL until a 200 within the limit, the start-up deadline, the
    container's exit, or SLOW_PINGS_ENOUGH slow 200s in a row."""
    deadline = job.started_at + settings.startup_timeout
    answers: List[Answer] = []
    slow: List[Answer] = []
    in_a_row = 0
    while True:
        asked = time.monotonic()
        left = deadline - asked
        if left <= 0:
            return _Pings(None, answers, slow, None)
        if job.poll() or host in job.exits:
            ended = job.exits.get(host)
            return _Pings(None, answers, slow, exit_words(ended.code, ended.oom_killed) if ended else "exited")
        answer = probe.request("GET", address, settings.port, "/ping", min(left, SLOW_PING_WAIT))
        answers.append(answer)
        if answer.status == 200 and answer.error is None:
            if answer.seconds <= limit:
                return _Pings(asked + answer.seconds - job.started_at, answers, slow, None)
            slow.append(answer)
            in_a_row += 1
            if in_a_row >= SLOW_PINGS_ENOUGH:
                return _Pings(None, answers, slow, None)
        else:
            in_a_row = 0
        time.sleep(max(0.0, min(PING_INTERVAL - (time.monotonic() - asked), deadline - time.monotonic())))


def _unhealthy(job: Job, probe: Probe, host: str, settings: ServeSettings, pings: _Pings, profile: Profile) -> Hit:
    port = settings.port
    statuses = sorted({answer.status for answer in pings.answers if answer.status})
    errors = [answer.error for answer in pings.answers if not answer.status and answer.error]
    within = f"within the {settings.startup_timeout:g} s start-up limit (ContainerStartupHealthCheckTimeoutInSeconds)"
    if pings.exited is not None:
        why = f"the container {pings.exited} before /ping answered HTTP 200"
        fix = f"make `{profile.command}` start the model server and keep it running (see its log)"
    elif statuses:
        why = (f"GET /ping answered HTTP {', '.join(map(str, statuses))}, never 200, {within}")
        fix = "answer GET /ping with HTTP 200 once the model is loaded"
    else:
        listening = probe.listening(job.containers[host]) if errors and all(e == "refused" for e in errors) else None
        if errors and all(error == "refused" for error in errors):
            why = f"nothing accepted connections on port {port} {within}"
            if listening:
                local = [item for item in listening if item.startswith(("127.", "[::1]"))]
                why += f"; the container listens on {', '.join(listening)}"
                why += (" (loopback only: SageMaker connects from outside the container)" if local and
                        any(item.endswith(f":{port}") for item in local) else " (wrong port?)")
            elif listening == []:
                why += "; the container listens on no TCP port at all"
        else:
            why = f"GET /ping got no answer {within} (last: {pings.answers[-1].words() if pings.answers else 'none'})"
        fix = f"listen on 0.0.0.0:{port} and answer GET /ping with HTTP 200"
    evidence = tuple(f"/ping: {answer.words()}" for answer in pings.answers[-3:]) + log_evidence(host, job.log_tail(host, 10))
    return Hit(0, f"{host}: not healthy: {why}; SageMaker would fail the endpoint", fix=fix, evidence=evidence)


def _ping_summary(pings: _Pings) -> str:
    counts: Dict[str, int] = {}
    for answer in pings.answers:
        key = answer.words().split(" in ")[0].split(" after ")[0]
        counts[key] = counts.get(key, 0) + 1
    told = ", ".join(f"{key} x{count}" for key, count in counts.items()) or "not asked"
    if pings.healthy_after is not None:
        return f"healthy {pings.healthy_after:.3f} s after start ({len(pings.answers)} pings: {told})"
    return f"not healthy ({len(pings.answers)} pings: {told}" + (f"; the container {pings.exited}" if pings.exited else "") + ")"


def _execution_parameters(probe: Probe, address: str, settings: ServeSettings, profile: Profile,
                          limit: float) -> Tuple[str, str]:
    path = profile.get("execution_parameters_path")
    answer = probe.request("GET", address, settings.port, path, SLOW_PING_WAIT)
    if answer.status == 200 and answer.error is None:
        return (f"GET {path}", f"HTTP 200: {printable(answer.body[:BODY_SHOWN].decode('utf-8', 'replace')).strip()} "
                               "(SageMaker uses these for the transform job when they are not set on it)")
    return (f"GET {path}", f"{answer.words()}: not served (it is optional; SageMaker then uses the transform "
                           "job's own settings)")


def _body_words(answer: Answer) -> str:
    if not answer.body_bytes:
        return ""
    text = printable(answer.body[:BODY_SHOWN].decode("utf-8", "replace")).strip()
    return f"; body ({answer.body_bytes} bytes): {text}" + ("..." if answer.body_bytes > BODY_SHOWN else "")


def _invocation_failed(job: Job, host: str, answer: Answer, settings: ServeSettings) -> Hit:
    if answer.error == "timeout":
        why = f"no answer within the {settings.invocations_timeout:g} s invocation limit"
        fix = "answer within the limit (a smaller batch, a faster model), or raise the limit where the platform allows"
    elif answer.error is not None:
        why = answer.words()
        fix = "keep the connection open and answer every request; see the container's log for a crash"
    else:
        why = f"HTTP {answer.status}" + _body_words(answer)
        fix = (f"accept {settings.content_type or 'the payload'} and answer with a 2xx status"
               if 400 <= answer.status < 500 else "see the container's log for the error")
    evidence = (f"POST /invocations: {answer.words()}",) + log_evidence(host, job.log_tail(host, 10))
    return Hit(0, f"{host}: POST /invocations failed: {why}; InvokeEndpoint (or the transform job) would fail",
               fix=fix, evidence=evidence)
