"""Several images in one `sm-lint run --engine sagemaker A B --jobs N`: every image's scenarios are
jobs of one run (one run id, each job named and tagged for its image), `--jobs` bounds them all,
one report holds the findings of each image on that image, and Ctrl-C stops every image's jobs.
The plumbing against moto's server, a failing image through botocore's Stubber (moto makes every
job Completed at once). No Docker.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from moto_support import INITIAL_STATUS_TAG, MotoServer, Stubbed
from sm_lint.catalogue import Catalogue
from sm_lint.harness.sagemaker import SageMakerOptions
from sm_lint.harness.sagemaker.logs import GROUP
from sm_lint.run_command import RunOptions, run_harness_many

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load()
FIRST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/etl:1"
SECOND = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train-prep:2"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NAME = re.compile(r"sm-lint-(completion|stop)-(\d{14}-[0-9a-f]{8})-([12])")
RUN_ID = "20261204120000-0000abcd"
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / ".sm-lint.toml"
    path.write_text("")
    return path


def _sm_lint(*args: str, **popen: Any) -> Any:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "sm_lint", *args], env=env, capture_output=True, text=True,
                          timeout=120, **popen)


def _tags(request: Dict[str, Any]) -> Dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in request["Tags"]}


def test_every_image_gets_its_own_named_and_tagged_jobs_in_one_report(aws: MotoServer, config_file: Path) -> None:
    done = _sm_lint("run", FIRST, SECOND, "--engine", "sagemaker", "--role", ROLE, "--jobs", "4", "--scenario",
                    "completion,stop", "--stop-after", "0", "--config", str(config_file), "-q", "-f", "json")
    assert done.returncode == 0, done.stderr
    sent = aws.requests("SageMaker.CreateProcessingJob")
    assert len(sent) == 4
    image_of = {"1": FIRST, "2": SECOND}
    seen = set()
    for request in sent:
        match = NAME.fullmatch(request["ProcessingJobName"])
        assert match, request["ProcessingJobName"]
        scenario, run_id, number = match.groups()
        seen.add((scenario, number))
        assert request["AppSpecification"]["ImageUri"] == image_of[number]
        tags = _tags(request)
        assert tags["sm-lint:image"] == image_of[number] and tags["sm-lint:scenario"] == scenario
        assert tags["sm-lint:run"] == run_id
    assert seen == {("completion", "1"), ("completion", "2"), ("stop", "1"), ("stop", "2")}
    assert len({_tags(request)["sm-lint:run"] for request in sent}) == 1  # one run
    report = json.loads(done.stdout)
    assert report["summary"]["targets"] == 2
    facts = report["facts"]
    assert facts[f"{FIRST}: job"] == "Completed" and facts[f"{SECOND}: job"] == "Completed"
    assert facts[f"{FIRST}: image"] == FIRST and "cost bound" in facts and "run id" in facts  # the run's, once
    # moto's jobs end at once, so neither stop job could be stopped: skipped, saying for which image.
    reasons = {item["rule"]: item["reason"] for item in report["skipped"]}
    assert reasons["SM310"].startswith("stop: the job ended by itself")  # the same for both images: said once


def test_a_failing_image_has_its_finding_on_itself(monkeypatch: pytest.MonkeyPatch, config_file: Path) -> None:
    """Stubber: the first image's job Completes, the second's Fails with an AlgorithmError (one job
    at a time, so the canned replies come in order)."""
    from sm_lint.harness import lifecycle
    from sm_lint.harness.sagemaker import aws

    stubbed = Stubbed()
    monkeypatch.setattr(aws, "connect", lambda region=None: stubbed.clients)
    monkeypatch.setattr(lifecycle, "new_run_id", lambda: RUN_ID)
    for number, status, reason, lines in (("1", "Completed", None, ["wrote 3 rows"]),
                                          ("2", "Failed", "AlgorithmError: See job logs for more information",
                                           ["Traceback (most recent call last):", "KeyError: 'region'"])):
        name = f"sm-lint-completion-{RUN_ID}-{number}"
        stubbed.sm_stub.add_response("create_processing_job", {"ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}"},
                                     {**_expected_create(name)})
        stubbed.describe(status, **({"FailureReason": reason} if reason else {}))
        stubbed.logs_stub.add_response("describe_log_streams",
                                       {"logStreams": [{"logStreamName": f"{name}/algo-1-1764849600"}]},
                                       {"logGroupName": GROUP, "logStreamNamePrefix": f"{name}/"})
        stubbed.logs_stub.add_response("get_log_events", _events(lines),
                                       {"logGroupName": GROUP, "logStreamName": f"{name}/algo-1-1764849600",
                                        "startFromHead": False, "limit": 20})
    with stubbed:
        result = run_harness_many([FIRST, SECOND], RunOptions(config_file=config_file,
                                                              sagemaker=SageMakerOptions(role=ROLE, jobs=1)), CATALOGUE)
    stubbed.done()
    assert [(finding.rule, finding.location.path) for finding in result.findings] == [("SM301", SECOND)]
    assert "KeyError: 'region'" in "\n".join(result.findings[0].evidence)
    assert result.failed
    facts = dict(result.facts)
    assert facts[f"{FIRST}: job"] == "Completed"
    assert facts[f"{SECOND}: job"].startswith("Failed (AlgorithmError")
    assert {"SM301", "SM302", "SM303"} <= set(result.rules)  # decided for both images


def _expected_create(name: str) -> Dict[str, Any]:
    from botocore.stub import ANY

    image = FIRST if name.endswith("-1") else SECOND
    return {"ProcessingJobName": name, "RoleArn": ROLE, "AppSpecification": {"ImageUri": image},
            "ProcessingResources": ANY, "StoppingCondition": {"MaxRuntimeInSeconds": 600}, "Tags": ANY}


def _events(lines: List[str]) -> Dict[str, Any]:
    return {"events": [{"timestamp": 1764849600000 + i, "message": line, "ingestionTime": 1764849600000 + i}
                       for i, line in enumerate(lines)], "nextForwardToken": "f/end", "nextBackwardToken": "b/0"}


def test_ctrl_c_stops_every_images_jobs(aws: MotoServer, tmp_path: Path) -> None:
    """Both images' jobs run on (moto keeps them InProgress); Ctrl-C stops both."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"Tags": [{"Key": INITIAL_STATUS_TAG, "Value": "InProgress"}]}))
    (tmp_path / "none.toml").write_text("")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen([sys.executable, "-m", "sm_lint", "run", FIRST, SECOND, "--engine", "sagemaker",
                                "--role", ROLE, "--jobs", "2", "--job", str(job), "--config", str(tmp_path / "none.toml")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(aws.requests("SageMaker.CreateProcessingJob")) < 2 or \
                len(aws.requests("SageMaker.DescribeProcessingJob")) < 2:  # both are waiting now
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "two jobs were not created and polled within 60 s"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and "Traceback" not in stderr
    names = sorted(request["ProcessingJobName"] for request in aws.requests("SageMaker.CreateProcessingJob"))
    assert [NAME.fullmatch(name).group(3) for name in names] == ["1", "2"]  # type: ignore[union-attr]
    assert sorted(request["ProcessingJobName"] for request in aws.requests("SageMaker.StopProcessingJob")) == names
    import boto3

    client = boto3.client("sagemaker")
    assert [client.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] for name in names] == [
        "Stopped", "Stopped"]


def test_several_images_are_refused_up_front_where_they_cannot_run(tmp_path: Path, config_file: Path) -> None:
    """The Docker engine runs one image per run; several images writing one local output folder
    would overwrite each other: both are usage errors, one line, before any work (no AWS needed)."""
    done = _sm_lint("run", FIRST, SECOND, "--config", str(config_file))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "sm-lint: error: several images need --engine sagemaker (its jobs run side by side); the Docker engine runs "
        "one image per `sm-lint run`"]
    out = tmp_path / "out"
    done = _sm_lint("run", FIRST, SECOND, "--engine", "sagemaker", "--role", ROLE, "--s3-prefix", "s3://b/p",
                    "--job-output", f"/opt/ml/processing/output/r:{out}", "--config", str(config_file))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "several images would write over each other's outputs" in lines[0]
    assert not out.exists()  # nothing made


def test_an_invalid_request_is_said_on_each_image_and_never_sent(aws: MotoServer, config_file: Path) -> None:
    """SM300 holds for every image's request (they differ only in the image): one finding on each
    image, no job sent, the runtime rules skipped with the reason said once."""
    from sm_lint.harness.jobspec import Overrides

    result = run_harness_many([FIRST, SECOND], RunOptions(config_file=config_file, overrides=Overrides(instance_count=101),
                                                          sagemaker=SageMakerOptions(role=ROLE, jobs=2)), CATALOGUE)
    assert [(finding.rule, finding.location.path) for finding in result.findings] == [("SM300", FIRST),
                                                                                       ("SM300", SECOND)]
    assert aws.requests("SageMaker.CreateProcessingJob") == [] and result.failed
    assert dict(result.skipped)["SM301"] == "completion: not run, the request is invalid (SM300)"
    assert result.rules == ("SM300",)


def test_a_rule_decided_for_one_image_only_is_skipped_saying_for_which(monkeypatch: pytest.MonkeyPatch,
                                                                       config_file: Path) -> None:
    """Stubber: the service refuses the second image's job (a quota), the first Completes. SM301 is
    not counted as run (it was not, for the second image); its skip says which image ran it."""
    from sm_lint.harness import lifecycle
    from sm_lint.harness.sagemaker import aws

    stubbed = Stubbed()
    monkeypatch.setattr(aws, "connect", lambda region=None: stubbed.clients)
    monkeypatch.setattr(lifecycle, "new_run_id", lambda: RUN_ID)
    name = f"sm-lint-completion-{RUN_ID}-1"
    stubbed.sm_stub.add_response("create_processing_job", {"ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{name}"},
                                 _expected_create(name))
    stubbed.describe("Completed")
    stubbed.logs_stub.add_response("describe_log_streams", {"logStreams": []},
                                   {"logGroupName": GROUP, "logStreamNamePrefix": f"{name}/"})
    stubbed.sm_stub.add_client_error("create_processing_job", "ResourceLimitExceeded",
                                     "The account-level service limit 'ml.m5.xlarge for processing job usage' is 4",
                                     expected_params=_expected_create(f"sm-lint-completion-{RUN_ID}-2"))
    with stubbed:
        result = run_harness_many([FIRST, SECOND], RunOptions(config_file=config_file,
                                                              sagemaker=SageMakerOptions(role=ROLE, jobs=1)), CATALOGUE)
    stubbed.done()
    assert result.findings == [] and "SM301" not in result.rules
    assert dict(result.skipped)["SM301"] == (f"{FIRST}: ran; {SECOND}: completion: SageMaker refused CreateProcessingJob "
                                             "(ResourceLimitExceeded: The account-level service limit 'ml.m5.xlarge for "
                                             "processing job usage' is 4)")


def test_local_inputs_are_staged_once_for_every_image(aws: MotoServer, config_file: Path, tmp_path: Path) -> None:
    import boto3

    from sm_lint.harness.jobspec import Overrides

    boto3.client("s3").create_bucket(Bucket="sm-lint-tests")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    result = run_harness_many([FIRST, SECOND], RunOptions(
        config_file=config_file, overrides=Overrides(inputs=[(str(data), "/opt/ml/processing/input/data")]),
        sagemaker=SageMakerOptions(role=ROLE, jobs=2, s3_prefix="s3://sm-lint-tests/ci")), CATALOGUE)
    sent = aws.requests("SageMaker.CreateProcessingJob")
    assert len(sent) == 2 and result.findings == []
    (uri,) = {request["ProcessingInputs"][0]["S3Input"]["S3Uri"] for request in sent}  # one upload, shared
    run_id = dict(result.facts)["run id"]
    assert uri == f"s3://sm-lint-tests/ci/{run_id}/input/input-1/"
    assert dict(result.facts)["staged inputs"] == f"1 file uploaded to s3://sm-lint-tests/ci/{run_id}"
    assert boto3.client("s3").list_objects_v2(Bucket="sm-lint-tests").get("KeyCount") == 0  # deleted afterwards
