"""The Processing jobs of one run: create, describe (polled with backoff), stop, and the guarantee
that none is left running: a `Jobs` context manager stops every job it created that may still run,
whatever ends the run (normally, an error, Ctrl-C, SIGTERM/SIGHUP turned into `Terminated` as the
Docker harness's Session does). Only SIGKILL of sm-lint itself can leave a job behind; its name
(`sm-lint-...`) and tags (`sm-lint:run`, `sm-lint:scenario`,
`sm-lint:image`, `sm-lint:owner`, `sm-lint:host`, `sm-lint:pid`) let
`sm-lint run --engine sagemaker --cleanup` find it, and MaxRuntimeInSeconds ends it anyway.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from sm_lint.errors import EnvironmentFailure
from sm_lint.harness import signals
from sm_lint.harness.sagemaker.aws import ANY, THROTTLED, AccessDenied, Clients, call, code_of, message_of, throttled

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
TAG_RUN = "sm-lint:run"
TAG_SCENARIO = "sm-lint:scenario"
TAG_OWNER = "sm-lint:owner"
TAG_HOST = "sm-lint:host"
TAG_PID = "sm-lint:pid"
TAG_IMAGE = "sm-lint:image"
NAME_PREFIX = "sm-lint-"
# Polling DescribeProcessingJob: every 5 s at first, then slower, at most every 30 s (a job spends
# minutes provisioning); the stop scenario polls every STOP_POLL s to time Stopping -> Stopped.
POLL_FIRST = 5.0
POLL_MAX = 30.0
POLL_GROWTH = 1.5
STOP_POLL = 2.0


class Cancelled(Exception):
    """The run is ending (Ctrl-C, SIGTERM, an error in another scenario): stop waiting."""


class Refused(Exception):
    """The service refused to create the job (a ValidationException, a quota): no job exists."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Jobs:
    def __init__(self, clients: Clients, run_id: str, poll_first: Optional[float] = None, poll_max: Optional[float] = None,
                 stop_poll: Optional[float] = None) -> None:
        self.clients = clients
        self.run_id = run_id
        self.created: List[str] = []
        self.ended: Set[str] = set()
        self.stopped_by_us: Dict[str, float] = {}  # name -> monotonic time of our StopProcessingJob
        self.cancelled = threading.Event()
        self.poll_first = POLL_FIRST if poll_first is None else poll_first
        self.poll_max = POLL_MAX if poll_max is None else poll_max
        self.stop_poll = STOP_POLL if stop_poll is None else stop_poll
        self._lock = threading.Lock()
        self._previous: Dict[int, Any] = {}

    # -- the guarantee -------------------------------------------------------------------------
    def __enter__(self) -> "Jobs":
        self._previous = signals.catch_termination()
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.cancelled.set()
        with signals.held(self._previous):  # a second Ctrl-C must not cut the stopping short
            failed = self.stop_all()
        if failed:
            words = (f"could not stop {', '.join(name for name, _ in failed)} ({failed[0][1]}); "
                     "`sm-lint run --engine sagemaker --cleanup` stops it, and MaxRuntimeInSeconds ends it")
            if error is None:
                raise EnvironmentFailure(words)
            import sys

            from sm_lint.terminal import printable

            print(f"sm-lint: warning: {printable(words)}", file=sys.stderr)  # the error in flight is the one told

    def stop_all(self) -> List[Tuple[str, str]]:
        """StopProcessingJob for every job of this run not seen ended or stopped; the ones that
        could not be stopped, with why (every job is tried)."""
        failed: List[Tuple[str, str]] = []
        for name in list(self.created):
            if name in self.ended or name in self.stopped_by_us:
                continue
            try:
                self.stop(name)
            except Exception as problem:  # noqa: BLE001 - every job is tried; the caller tells the rest
                failed.append((name, str(problem)))
        return failed

    # -- the calls -----------------------------------------------------------------------------
    def tags(self, scenario: str, image: Optional[str] = None) -> List[Dict[str, str]]:
        tags = [{"Key": TAG_RUN, "Value": self.run_id}, {"Key": TAG_SCENARIO, "Value": scenario},
                {"Key": TAG_OWNER, "Value": self.clients.caller[:256]},
                {"Key": TAG_HOST, "Value": socket.gethostname()[:256]}, {"Key": TAG_PID, "Value": str(os.getpid())}]
        # The image the job runs (a tag value holds 256 characters and an image URI's own ones).
        return tags + ([{"Key": TAG_IMAGE, "Value": image[:256]}] if image else [])

    def create(self, request: Mapping[str, Any]) -> str:
        """CreateProcessingJob; the job's ARN. The name is recorded first, so a reply lost on the
        way still gets the job stopped."""
        import botocore.exceptions

        name = str(request["ProcessingJobName"])
        self._check()
        with self._lock:
            self.created.append(name)
        try:
            reply = call(lambda: self.clients.sagemaker.create_processing_job(**request), "sagemaker",
                         "CreateProcessingJob", expect=(ANY,))
        except (botocore.exceptions.ClientError, AccessDenied) as error:
            # The service answered no: there is no job to stop. (Without an answer the job may
            # exist, and it stays on the list.)
            with self._lock:
                self.ended.add(name)
            if isinstance(error, AccessDenied):
                raise
            raise Refused(code_of(error), message_of(error)) from None
        return str(reply.get("ProcessingJobArn", ""))

    def describe(self, name: str) -> Dict[str, Any]:
        """DescribeProcessingJob; throttling that outlasts botocore's retries waits and tries again."""
        import botocore.exceptions

        delay = self.poll_first
        while True:
            self._check()
            try:
                found: Dict[str, Any] = call(lambda: self.clients.sagemaker.describe_processing_job(ProcessingJobName=name),
                                             "sagemaker", "DescribeProcessingJob", expect=THROTTLED)
            except botocore.exceptions.ClientError as error:
                if not throttled(error):
                    raise EnvironmentFailure(f"sagemaker:DescribeProcessingJob {name}: {message_of(error)}") from None
                self.sleep(delay)
                delay = min(delay * POLL_GROWTH, self.poll_max)
                continue
            if found.get("ProcessingJobStatus") in TERMINAL:
                with self._lock:
                    self.ended.add(name)
            return found

    def wait(self, name: str, done: Callable[[Dict[str, Any]], bool], timeout: float,
             on_poll: Callable[[Dict[str, Any], float], None] = lambda found, elapsed: None,
             interval: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """Poll until `done(description)`; the description, or None when `timeout` seconds passed
        first (botocore's waiter does the same with a fixed delay and a WaiterError)."""
        started = time.monotonic()
        delay = interval if interval is not None else self.poll_first
        while True:
            found = self.describe(name)
            elapsed = time.monotonic() - started
            if done(found):
                return found
            on_poll(found, elapsed)
            if elapsed >= timeout:
                return None
            self.sleep(min(delay, max(timeout - elapsed, 0.0)))
            if interval is None:
                delay = min(delay * POLL_GROWTH, self.poll_max)

    def stop(self, name: str) -> None:
        """StopProcessingJob; a job that has already ended is not an error."""
        import botocore.exceptions

        with self._lock:
            self.stopped_by_us.setdefault(name, time.monotonic())
        try:
            call(lambda: self.clients.sagemaker.stop_processing_job(ProcessingJobName=name), "sagemaker",
                 "StopProcessingJob", expect=("ValidationException",))
        except botocore.exceptions.ClientError as error:
            if code_of(error) != "ValidationException":  # "... is not in a stoppable state": it ended
                raise EnvironmentFailure(f"sagemaker:StopProcessingJob {name}: {message_of(error)}") from None

    def sleep(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise Cancelled()

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()


def terminal(found: Mapping[str, Any]) -> bool:
    return found.get("ProcessingJobStatus") in TERMINAL
