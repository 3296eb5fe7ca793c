"""The sagemaker engine through job lifecycles that moto cannot produce, with botocore's Stubber:
every request is validated against the service model (names, types, required fields) and every
canned reply against the reply's shape. Covered: InProgress -> Completed; Failed with an
AlgorithmError and an ExitMessage; a ClientError about the exit message; Stopped at
MaxRuntimeInSeconds; StopProcessingJob with Stopping -> Stopped; throttling that outlasts
botocore's retries; sm-lint's own waiting timeout; CloudWatch Logs pages; GPU jobs; AccessDenied.
No network, no Docker.
"""
from __future__ import annotations

import datetime
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

from botocore.stub import ANY

from moto_support import NAME, Stubbed
from sm_lint.errors import EnvironmentFailure
from sm_lint.harness.jobspec import Overrides, load_request
from sm_lint.harness.plan import make_plan
from sm_lint.harness.sagemaker import SageMakerOptions, engine, scenarios
from sm_lint.harness.sagemaker.logs import Logs

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/job:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.timezone.utc)


def plan_for(instance_type: str = "ml.m5.xlarge", max_runtime: int = 600, **overrides: Any) -> Any:
    request = load_request(None, Overrides(image=IMAGE, instance_type=instance_type, max_runtime=max_runtime, **overrides))
    request["RoleArn"] = ROLE
    return make_plan(request, IMAGE)


def run(stubbed: Stubbed, scenario: str, plan: Any = None, grace: Optional[float] = None, **options: Any) -> Tuple[Any, List[Tuple[str, str]]]:
    settings = dict(stop_after=0.0, ready_log=None, ready_timeout=5.0, expect_gpus=None, require_gpu=False)
    settings.update(options)
    with stubbed:
        outcomes, facts = engine.run(plan or plan_for(), SageMakerOptions(stop_grace=grace), (scenario,),
                                     poll=(0.0, 0.0, 0.0), clients=stubbed.clients, **settings)
    stubbed.done()
    return outcomes[0], facts


@pytest.fixture(autouse=True)
def stream_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job of these tests is named NAME, so that the canned log streams are its own."""
    monkeypatch.setattr(scenarios.Context, "name", lambda self, scenario: NAME)


def fact(facts: List[Tuple[str, str]], label: str) -> str:
    values = [value for key, value in facts if key == label]
    assert values, f"no fact {label!r} in {facts}"
    return values[-1]


def test_in_progress_then_completed() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("InProgress")
    stubbed.describe("InProgress")
    stubbed.describe("Completed", ProcessingStartTime=T0 + datetime.timedelta(seconds=140),
                     ProcessingEndTime=T0 + datetime.timedelta(seconds=200))
    stubbed.streams("algo-1")
    stubbed.events(["reading input", "wrote 3 rows"], limit=20)
    outcome, _ = run(stubbed, "completion")
    assert outcome.skipped is None and outcome.hits == []
    assert fact(outcome.facts, "job") == "Completed"
    assert fact(outcome.facts, "log algo-1") == "reading input | wrote 3 rows"
    assert "ProcessingStartTime t+140s" in fact(outcome.facts, "service times")


def test_failed_with_algorithm_error_and_exit_message() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Failed", FailureReason="AlgorithmError: See job logs for more information",
                     ExitMessage="input table is empty")
    stubbed.streams("algo-1")
    stubbed.events(["error: input table is empty"], limit=20)
    outcome, _ = run(stubbed, "completion")
    (rule, hit), = outcome.hits
    assert rule == "SM301"
    assert hit.message.startswith("algo-1: the job is Failed (AlgorithmError: See job logs for more information)")
    assert hit.evidence == ("last log lines of algo-1:", "  error: input table is empty",
                            "ExitMessage: input table is empty")
    assert fact(outcome.facts, "ExitMessage") == "input table is empty"


def test_failed_without_log_stream_says_so() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Failed", FailureReason="AlgorithmError: See job logs for more information")
    stubbed.logs_stub.add_client_error("describe_log_streams", "ResourceNotFoundException", "The specified log group does not exist.")
    outcome, _ = run(stubbed, "completion")
    (rule, hit), = outcome.hits
    assert rule == "SM301" and hit.evidence == ("algo-1 wrote nothing to stdout or stderr",)


def test_client_error_of_the_exit_message_is_sm302() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Failed", FailureReason="ClientError: The exit message is not valid UTF-8")
    stubbed.streams()
    outcome, _ = run(stubbed, "completion")
    assert [rule for rule, _ in outcome.hits] == ["SM302"]


def test_other_client_errors_are_no_verdict_on_the_image() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Failed", FailureReason="ClientError: Failed to download data. Access Denied for s3://b/k")
    stubbed.streams()
    outcome, _ = run(stubbed, "completion")
    assert outcome.hits == [] and "not a verdict on the image" in (outcome.skipped or "")


def test_stopped_by_the_service_is_max_runtime() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Stopped")
    stubbed.streams("algo-1")
    stubbed.events(["still working"], limit=20)
    outcome, _ = run(stubbed, "completion", plan_for(max_runtime=60))
    (rule, hit), = outcome.hits
    assert rule == "SM303" and "MaxRuntimeInSeconds=60" in hit.message and "no FailureReason" in hit.message
    assert hit.evidence == ("last log lines of algo-1:", "  still working")


def _stop_sequence(stubbed: Stubbed, final: str = "Stopped") -> None:
    stubbed.create()
    stubbed.describe("InProgress")  # waiting for the container
    stubbed.streams("algo-1")
    stubbed.describe("InProgress")  # --ready-log
    stubbed.events(["starting", "ready"], head=True, forward="f/1")
    stubbed.events([], head=True, token="f/1", forward="f/1")
    stubbed.sm_stub.add_response("stop_processing_job", {}, {"ProcessingJobName": NAME})
    stubbed.describe("Stopping")
    stubbed.describe(final)
    stubbed.events(["ready", "caught SIGINT, exiting"], limit=10)


def test_stopping_then_stopped_within_the_grace() -> None:
    stubbed = Stubbed()
    _stop_sequence(stubbed)
    outcome, _ = run(stubbed, "stop", grace=60.0, ready_log=re.compile("ready"))
    assert outcome.skipped is None and outcome.hits == []
    timeline = fact(outcome.facts, "stop timeline")
    assert "log matched 'ready'" in timeline and "StopProcessingJob sent" in timeline
    assert timeline.index(" Stopping") < timeline.index(" Stopped")
    assert fact(outcome.facts, "stop verdict").endswith("SIGINT honoured within the 60 s grace")


def test_stop_slower_than_the_grace_may_be_sigkill() -> None:
    stubbed = Stubbed()
    _stop_sequence(stubbed)
    outcome, _ = run(stubbed, "stop", grace=0.0, ready_log=re.compile("ready"))
    (rule, hit), = outcome.hits
    assert rule == "SM310" and "may have needed SIGKILL" in hit.message
    assert hit.evidence[-3:] == ("last log lines of algo-1:", "  ready", "  caught SIGINT, exiting")


def test_a_job_that_ends_before_the_stop_is_skipped() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Completed")
    outcome, _ = run(stubbed, "stop")
    assert "ended by itself before StopProcessingJob (Completed)" in (outcome.skipped or "")


def test_throttling_past_the_retries_waits_and_polls_again() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.sm_stub.add_client_error("describe_processing_job", "ThrottlingException", "Rate exceeded")
    stubbed.sm_stub.add_client_error("describe_processing_job", "ThrottlingException", "Rate exceeded")
    stubbed.describe("Completed")
    stubbed.streams()
    outcome, _ = run(stubbed, "completion")
    assert fact(outcome.facts, "job") == "Completed"


def test_waiting_past_max_runtime_and_start_up_stops_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenarios, "START_ALLOWANCE", -1.0)  # max-runtime 1 s: sm-lint's wait ends at once
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("InProgress")
    stubbed.sm_stub.add_response("stop_processing_job", {}, {"ProcessingJobName": NAME})
    outcome, _ = run(stubbed, "completion", plan_for(max_runtime=1))
    assert outcome.hits == [] and "still InProgress" in (outcome.skipped or "")
    assert "sm-lint stopped it" in (outcome.skipped or "")


def test_refused_request_is_no_verdict() -> None:
    stubbed = Stubbed()
    stubbed.sm_stub.add_client_error("create_processing_job", "ResourceLimitExceeded",
                                     "The account-level service limit 'ml.g5.xlarge for processing job usage' is 0")
    outcome, _ = run(stubbed, "completion")
    assert "SageMaker refused CreateProcessingJob (ResourceLimitExceeded" in (outcome.skipped or "")


def test_access_denied_names_the_iam_action() -> None:
    stubbed = Stubbed()
    stubbed.sm_stub.add_client_error(
        "create_processing_job", "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:PassRole on resource: " + ROLE)
    with pytest.raises(EnvironmentFailure, match=r"^AWS denied iam:PassRole: the identity lacks the IAM permission"):
        run(stubbed, "completion")


def test_errors_stop_the_jobs_already_created() -> None:
    """An error after CreateProcessingJob (here: the logs refused) still stops the job."""
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("InProgress")
    stubbed.logs_stub.add_client_error("describe_log_streams", "AccessDeniedException", "not authorized")
    stubbed.sm_stub.add_response("stop_processing_job", {}, {"ProcessingJobName": NAME})
    with pytest.raises(EnvironmentFailure, match="AWS denied logs:DescribeLogStreams"):
        run(stubbed, "stop")


def test_log_pages_are_followed_to_the_end() -> None:
    stubbed = Stubbed()
    stubbed.streams("algo-1", next_token="p2")
    stubbed.streams("algo-2", token="p2")
    stubbed.events(["a", "b"], head=True, forward="f/1")
    stubbed.events(["c"], head=True, token="f/1", forward="f/2")
    stubbed.events([], head=True, token="f/2", forward="f/2")
    stubbed.events(["d"], head=True, token="f/2", forward="f/3")
    stubbed.events([], head=True, token="f/3", forward="f/3")
    with stubbed:
        logs = Logs(stubbed.logs, NAME)
        assert sorted(logs.streams()) == ["algo-1", "algo-2"]
        assert logs.follow("algo-1") == ["a", "b", "c"]
        assert logs.follow("algo-1") == ["d"]
    stubbed.done()


def test_gpu_job_lists_the_gpus() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Completed")
    stubbed.streams("algo-1")
    stubbed.events(["0, NVIDIA A10G, GPU-5a6b, 535.104.05"], limit=200)
    outcome, _ = run(stubbed, "gpu", plan_for("ml.g5.xlarge"))
    assert outcome.hits == [] and fact(outcome.facts, "GPU 0") == "NVIDIA A10G, GPU-5a6b, driver 535.104.05"


def test_gpu_request_runs_nvidia_smi() -> None:
    stubbed = Stubbed()
    expected = {"ProcessingJobName": NAME, "RoleArn": ROLE, "Tags": ANY, "StoppingCondition": {"MaxRuntimeInSeconds": 600},
                "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": ["nvidia-smi"],
                                     "ContainerArguments": ["--query-gpu=index,name,uuid,driver_version",
                                                            "--format=csv,noheader"]},
                "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.g5.12xlarge",
                                                          "VolumeSizeInGB": 30}}}
    stubbed.sm_stub.add_response("create_processing_job", {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:1:processing-job/x"},
                                 expected)
    stubbed.describe("Completed")
    stubbed.streams("algo-1")
    stubbed.events(["0, NVIDIA A10G, GPU-1, 535.104.05", "1, NVIDIA A10G, GPU-2, 535.104.05"], limit=200)
    outcome, _ = run(stubbed, "gpu", plan_for("ml.g5.12xlarge", instance_count=2))
    (rule, hit), = outcome.hits
    assert rule == "SM320" and hit.message == "2 of the 4 GPUs of ml.g5.12xlarge are visible"


def test_gpu_nvml_mismatch_is_sm321() -> None:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("Failed", FailureReason="AlgorithmError: See job logs for more information")
    stubbed.streams("algo-1")
    stubbed.events(["Failed to initialize NVML: Driver/library version mismatch"], limit=200)
    outcome, _ = run(stubbed, "gpu", plan_for("ml.g5.xlarge"))
    assert [rule for rule, _ in outcome.hits] == ["SM321"]


def test_gpu_scenario_on_a_cpu_instance_sends_nothing() -> None:
    stubbed = Stubbed()  # no stubbed call: any request would fail the test
    outcome, _ = run(stubbed, "gpu")
    assert outcome.skipped is not None and "ml.m5.xlarge has no GPU" in outcome.skipped


def test_adaptive_retries_are_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    from sm_lint.harness.sagemaker import aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    captured: Dict[str, Any] = {}

    def fake_call(action: Any, service: str, operation: str) -> Any:
        captured["sts"] = operation
        return {"Arn": "arn:aws:iam::123456789012:user/ci"}

    monkeypatch.setattr(aws, "call", fake_call)
    clients = aws.connect("eu-west-1")
    retries = clients.sagemaker.meta.config.retries
    assert retries["mode"] == "adaptive" and retries["total_max_attempts"] == aws.MAX_ATTEMPTS
    assert clients.region == "eu-west-1" and captured["sts"] == "GetCallerIdentity"
