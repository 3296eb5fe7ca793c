"""moto's server mode for the sagemaker engine's tests: a real HTTP endpoint on loopback that
speaks SageMaker, S3, CloudWatch Logs and STS, started as a subprocess by the test session and
stopped at its end; the code under test reaches it through `AWS_ENDPOINT_URL`, with fake
credentials in the environment and no AWS config file read. The server records every request
(moto's recorder), so a test can read what went over the wire.

One addition to moto, in the server process only: a job created with the tag
`moto:initial-status=InProgress` starts in that status (moto makes every processing job Completed at
once), so that `--cleanup` has running leftovers to find. Nothing else of moto is changed.

Without moto[server] the tests skip with the reason, except under CI=true, where they fail: tests
never skip in CI (scripts/test.sh installs `.[test]`, which has it).
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

import pytest

from sm_lint.harness.sagemaker.aws import Clients
from sm_lint.harness.sagemaker.logs import GROUP

INITIAL_STATUS_TAG = "moto:initial-status"


class MotoServer(NamedTuple):
    endpoint: str
    recording: Path

    def reset(self) -> None:
        """Every service's state and the recording emptied (between tests)."""
        _post(f"{self.endpoint}/moto-api/reset")
        _post(f"{self.endpoint}/moto-api/recorder/reset-recording")

    def requests(self, target: str) -> List[Dict[str, Any]]:
        """The JSON bodies of every request of one JSON-protocol operation, e.g.
        `SageMaker.CreateProcessingJob`, in the order they came."""
        found = []
        for line in self.recording.read_text().splitlines():
            entry = json.loads(line)
            headers = {key.lower(): value for key, value in entry.get("headers", {}).items()}
            if headers.get("x-amz-target") != target:
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8")
            found.append(json.loads(body))
        return found


def _post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10):
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    try:
        import moto.server  # noqa: F401
    except ImportError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"moto[server] is not installed ({error}): pip install '.[test]'")
    folder = tmp_path_factory.mktemp("moto")
    recording = folder / "recording.jsonl"
    port = _free_port()
    env = dict(os.environ, MOTO_ENABLE_RECORDING="True", MOTO_RECORDER_FILEPATH=str(recording))
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen([sys.executable, __file__, str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {(folder / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield MotoServer(endpoint, recording)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    """The environment of one test: moto's endpoint, fake credentials, a region, no AWS files;
    moto's state emptied first."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    moto_server.reset()
    return moto_server


# -- botocore's Stubber, for the lifecycles moto cannot produce -------------------------------------
NAME = "sm-lint-scenario-run"  # the stubbed jobs' name (tests pin Context.name to it): log streams match it
STUB_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/job:1"
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.timezone.utc)


class Stubbed:
    """Real botocore clients (no network: every call must be stubbed) and their Stubbers."""

    def __init__(self) -> None:
        import botocore.session
        from botocore.stub import Stubber

        session = botocore.session.get_session()
        kwargs = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.sagemaker = session.create_client("sagemaker", **kwargs)
        self.logs = session.create_client("logs", **kwargs)
        self.s3 = session.create_client("s3", **kwargs)
        self.sm_stub = Stubber(self.sagemaker)
        self.logs_stub = Stubber(self.logs)
        self.clients = Clients(self.sagemaker, self.logs, self.s3, "us-east-1", "arn:aws:iam::123456789012:user/ci")

    def create(self) -> None:
        self.sm_stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/x"})

    def describe(self, status: str, **fields: Any) -> None:
        reply = {"ProcessingJobName": "x", "ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/x",
                 "ProcessingJobStatus": status, "CreationTime": T0, "AppSpecification": {"ImageUri": STUB_IMAGE},
                 "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                           "VolumeSizeInGB": 30}}}
        reply.update(fields)
        self.sm_stub.add_response("describe_processing_job", reply, {"ProcessingJobName": _any()})

    def streams(self, *hosts: str, token: Optional[str] = None, next_token: Optional[str] = None) -> None:
        reply: Dict[str, Any] = {"logStreams": [{"logStreamName": f"{NAME}/{host}-1764849600"} for host in hosts]}
        if next_token:
            reply["nextToken"] = next_token
        expected = {"logGroupName": GROUP, "logStreamNamePrefix": _any()}
        if token:
            expected["nextToken"] = token
        self.logs_stub.add_response("describe_log_streams", reply, expected)

    def events(self, lines: List[str], head: bool = False, token: Optional[str] = None,
               forward: str = "f/end", limit: Optional[int] = None) -> None:
        reply = {"events": [{"timestamp": 1764849600000 + i, "message": line, "ingestionTime": 1764849600000 + i}
                            for i, line in enumerate(lines)], "nextForwardToken": forward, "nextBackwardToken": "b/0"}
        expected: Dict[str, Any] = {"logGroupName": GROUP, "logStreamName": _any(), "startFromHead": head}
        if limit is not None:
            expected["limit"] = limit
        if token:
            expected["nextToken"] = token
        self.logs_stub.add_response("get_log_events", reply, expected)

    def __enter__(self) -> "Stubbed":
        self.sm_stub.activate()
        self.logs_stub.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sm_stub.deactivate()
        self.logs_stub.deactivate()

    def done(self) -> None:
        self.sm_stub.assert_no_pending_responses()
        self.logs_stub.assert_no_pending_responses()


def _any() -> Any:
    from botocore.stub import ANY

    return ANY


def _serve(port: int) -> None:
    """The server process: moto's, with processing jobs that may start InProgress."""
    from moto.sagemaker import models

    original = models.FakeProcessingJob.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for tag in self.tags or []:
            if tag.get("Key") == INITIAL_STATUS_TAG:
                self.processing_job_status = tag.get("Value")

    models.FakeProcessingJob.__init__ = init  # type: ignore[method-assign]
    from moto.server import main

    main(["-H", "127.0.0.1", "-p", str(port)])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
