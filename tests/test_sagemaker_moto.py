"""The sagemaker engine's plumbing against moto's server (tests/moto_support.py: SageMaker, S3,
CloudWatch Logs and STS on loopback, reached through AWS_ENDPOINT_URL): the request that goes over
the wire, S3 staging of local inputs and outputs, job names and tags, `--cleanup`, Ctrl-C and
SIGTERM, and the one-line errors of a missing boto3, credentials, region or role. moto makes every
job Completed at once, so the lifecycles are test_sagemaker_lifecycle.py's (botocore's Stubber).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from moto_support import INITIAL_STATUS_TAG, MotoServer
from sm_lint.catalogue import Catalogue
from sm_lint.harness.jobspec import Overrides
from sm_lint.harness.sagemaker import SageMakerOptions
from sm_lint.run_command import RunOptions, run_harness

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load()
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/job:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "sm-lint-tests"
NAME = re.compile(r"sm-lint-(completion|stop|gpu)-\d{14}-[0-9a-f]{8}")


def boto(service: str) -> Any:
    import boto3

    return boto3.client(service)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / ".sm-lint.toml"
    path.write_text("")
    return path


def harness(config_file: Path, scenarios: tuple = ("completion",), sm: SageMakerOptions = SageMakerOptions(role=ROLE),
            job_file: Any = None, **fields: Any) -> Any:
    overrides = Overrides(**fields)
    return run_harness(IMAGE, RunOptions(job_file=job_file, overrides=overrides, scenarios=scenarios,
                                         config_file=config_file, sagemaker=sm, stop_after=0.0), CATALOGUE)


def fact(result: Any, label: str) -> str:
    values = [value for key, value in result.facts if key == label]
    assert values, f"no fact {label!r} in {result.facts}"
    return values[-1]


def test_the_request_sent_and_the_s3_staging(aws: MotoServer, config_file: Path, tmp_path: Path) -> None:
    boto("s3").create_bucket(Bucket=BUCKET)
    data = tmp_path / "data"
    (data / "part").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "part" / "b.csv").write_text("3,4\n")
    out = tmp_path / "out"
    result = harness(config_file, sm=SageMakerOptions(role=ROLE, s3_prefix=f"s3://{BUCKET}/ci"),
                     entrypoint=["python3", "/opt/program/job.py"], arguments=["--rows", "2"], env={"MODE": "check"},
                     inputs=[(str(data), "/opt/ml/processing/input/data")],
                     outputs=[("/opt/ml/processing/output/result", str(out))], instance_count=2,
                     instance_type="ml.m5.xlarge")
    assert result.findings == [] and fact(result, "job") == "Completed"
    (sent,) = aws.requests("SageMaker.CreateProcessingJob")
    assert NAME.fullmatch(sent["ProcessingJobName"]) and sent["ProcessingJobName"].startswith("sm-lint-completion-")
    run_id = sent["ProcessingJobName"][len("sm-lint-completion-"):]
    assert sent["AppSpecification"] == {"ImageUri": IMAGE, "ContainerEntrypoint": ["python3", "/opt/program/job.py"],
                                        "ContainerArguments": ["--rows", "2"]}
    assert sent["ProcessingResources"] == {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge",
                                                             "VolumeSizeInGB": 30}}
    assert sent["RoleArn"] == ROLE and sent["Environment"] == {"MODE": "check"}
    assert sent["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}  # the conformance default, stated:
    assert "sm-lint's bound for conformance jobs" in fact(result, "MaxRuntimeInSeconds")
    (staged_input,) = sent["ProcessingInputs"]
    assert staged_input["S3Input"]["S3Uri"] == f"s3://{BUCKET}/ci/{run_id}/input/input-1/"
    assert staged_input["S3Input"]["LocalPath"] == "/opt/ml/processing/input/data"
    (staged_output,) = sent["ProcessingOutputConfig"]["Outputs"]
    assert staged_output["S3Output"] == {"S3Uri": f"s3://{BUCKET}/ci/{run_id}/{sent['ProcessingJobName']}/output/output-1",
                                         "LocalPath": "/opt/ml/processing/output/result", "S3UploadMode": "EndOfJob"}
    tags = {tag["Key"]: tag["Value"] for tag in sent["Tags"]}
    assert tags["sm-lint:run"] == run_id and tags["sm-lint:scenario"] == "completion"
    assert tags["sm-lint:host"] == socket.gethostname() and tags["sm-lint:pid"] == str(os.getpid())
    assert tags["sm-lint:owner"] == fact(result, "identity")
    assert fact(result, "staged inputs") == f"2 files uploaded to s3://{BUCKET}/ci/{run_id}"
    # What sm-lint staged is gone afterwards: nothing of the run is left in the bucket.
    assert boto("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert "0 files downloaded" in fact(result, "output output-1")
    # The job is tagged in the service too (ListTags: what --cleanup reads).
    arn = boto("sagemaker").describe_processing_job(ProcessingJobName=sent["ProcessingJobName"])["ProcessingJobArn"]
    assert {"Key": "sm-lint:run", "Value": run_id} in boto("sagemaker").list_tags(ResourceArn=arn)["Tags"]


def test_outputs_are_downloaded_only_inside_their_folder(aws: MotoServer, tmp_path: Path) -> None:
    from sm_lint.harness.sagemaker.staging import Download, S3Place, download

    s3 = boto("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in ("run/out/report.json", "run/out/deep/part-0", "run/out/../escape"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    written, refused = download(s3, Download("output-1", S3Place(BUCKET, "run/out"), str(tmp_path / "result")))
    assert written == 2 and refused == ["run/out/../escape"]
    assert (tmp_path / "result" / "report.json").read_bytes() == b"{}"
    assert (tmp_path / "result" / "deep" / "part-0").exists() and not (tmp_path / "escape").exists()


def test_every_scenario_is_its_own_tagged_job(aws: MotoServer, config_file: Path) -> None:
    result = harness(config_file, scenarios=("completion", "stop"), sm=SageMakerOptions(role=ROLE, jobs=2),
                     instance_type="ml.m5.xlarge")
    sent = aws.requests("SageMaker.CreateProcessingJob")
    names = sorted(request["ProcessingJobName"] for request in sent)
    assert [name.split("-")[2] for name in names] == ["completion", "stop"]
    assert len({name.split("-", 3)[3] for name in names}) == 1  # one run id
    assert {tag["Value"] for request in sent for tag in request["Tags"] if tag["Key"] == "sm-lint:scenario"} == {
        "completion", "stop"}
    # moto's jobs end at once: the stop scenario says so instead of judging.
    assert any(rule == "SM310" and "ended by itself" in reason for rule, reason in result.skipped)
    assert "SM311" not in result.rules and "SM311" in {rule for rule, _ in result.skipped}


def test_an_invalid_request_is_never_sent(aws: MotoServer, config_file: Path) -> None:
    result = harness(config_file, instance_count=101)
    assert [finding.rule for finding in result.findings] == ["SM300"]
    assert aws.requests("SageMaker.CreateProcessingJob") == []


def _job(name: str, tags: Dict[str, str]) -> str:
    sagemaker = boto("sagemaker")
    arn = sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        Tags=[{"Key": key, "Value": value} for key, value in dict(tags, **{INITIAL_STATUS_TAG: "InProgress"}).items()])
    return str(arn["ProcessingJobArn"])


def _status(name: str) -> str:
    return str(boto("sagemaker").describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"])


def _sm_lint(*args: str, **popen: Any) -> Any:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "sm_lint", *args], env=env, capture_output=True, text=True,
                          timeout=120, **popen)


def test_cleanup_stops_only_this_identitys_dead_leftovers(aws: MotoServer) -> None:
    me = boto("sts").get_caller_identity()["Arn"]
    here = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        base = {"sm-lint:run": "20260101000000-0000abcd", "sm-lint:owner": me, "sm-lint:host": here}
        _job("sm-lint-completion-dead", dict(base, **{"sm-lint:pid": dead.stdout.strip()}))
        _job("sm-lint-completion-live", dict(base, **{"sm-lint:pid": str(live.pid)}))
        _job("sm-lint-completion-elsewhere", dict(base, **{"sm-lint:host": "ci-runner-7", "sm-lint:pid": "42"}))
        _job("sm-lint-completion-theirs", dict(base, **{"sm-lint:owner": "arn:aws:iam::123456789012:user/other",
                                                         "sm-lint:pid": dead.stdout.strip()}))
        _job("sm-lint-lookalike", {})  # named like ours, not tagged by sm-lint: not listed
        done = _sm_lint("run", "--engine", "sagemaker", "--cleanup")
        assert done.returncode == 0, done.stderr
        assert "stopped processing job sm-lint-completion-dead" in done.stdout
        assert "kept processing job sm-lint-completion-live" in done.stdout and "a live run" in done.stdout
        assert "kept processing job sm-lint-completion-elsewhere" in done.stdout and "--force" in done.stdout
        assert "kept processing job sm-lint-completion-theirs" in done.stdout and "another identity" in done.stdout
        assert "lookalike" not in done.stdout
        assert done.stdout.splitlines()[-1] == "stopped 1 left-over processing job; kept 3"
        assert [_status(name) for name in ("sm-lint-completion-dead", "sm-lint-completion-live",
                                           "sm-lint-completion-elsewhere", "sm-lint-lookalike")] == [
            "Stopped", "InProgress", "InProgress", "InProgress"]
        forced = _sm_lint("run", "--engine", "sagemaker", "--cleanup", "--force", "--format", "json")
        report = json.loads(forced.stdout)
        assert [item["name"] for item in report["stopped"]] == ["sm-lint-completion-elsewhere"]
        assert _status("sm-lint-completion-elsewhere") == "Stopped" and _status("sm-lint-completion-live") == "InProgress"
    finally:
        live.kill()
        live.wait()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_the_running_job(aws: MotoServer, tmp_path: Path, how: int) -> None:
    """A job that runs on (moto keeps it InProgress) is stopped when sm-lint is interrupted."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"Tags": [{"Key": INITIAL_STATUS_TAG, "Value": "InProgress"}]}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen([sys.executable, "-m", "sm_lint", "run", IMAGE, "--engine", "sagemaker", "--role", ROLE,
                                "--job", str(job), "--config", str(tmp_path / "none.toml")],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path)
    (tmp_path / "none.toml").write_text("")
    try:
        deadline = time.monotonic() + 60
        while not aws.requests("SageMaker.CreateProcessingJob"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no CreateProcessingJob within 60 s"
            time.sleep(0.1)
        while not aws.requests("SageMaker.DescribeProcessingJob"):  # it is waiting now
            time.sleep(0.1)
        process.send_signal(how)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    (sent,) = aws.requests("SageMaker.CreateProcessingJob")
    assert process.returncode == (130 if how == signal.SIGINT else 128 + how)
    assert "Traceback" not in stderr
    assert [request["ProcessingJobName"] for request in aws.requests("SageMaker.StopProcessingJob")] == [
        sent["ProcessingJobName"]]
    assert _status(sent["ProcessingJobName"]) == "Stopped"


def test_errors_inside_a_run_stop_its_jobs(aws: MotoServer) -> None:
    from sm_lint.harness.sagemaker.aws import connect
    from sm_lint.harness.sagemaker.service import Jobs

    jobs = Jobs(connect(), "20260101000000-0000abcd")
    with pytest.raises(RuntimeError):
        with jobs:
            for name in ("sm-lint-completion-e1", "sm-lint-stop-e1"):
                jobs.create({"ProcessingJobName": name, "RoleArn": ROLE, "AppSpecification": {"ImageUri": IMAGE},
                             "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                                       "VolumeSizeInGB": 30}},
                             "Tags": [{"Key": INITIAL_STATUS_TAG, "Value": "InProgress"}]})
            raise RuntimeError("a scenario broke")
    assert [_status(name) for name in ("sm-lint-completion-e1", "sm-lint-stop-e1")] == ["Stopped", "Stopped"]


def _one_line_error(done: Any, code: int, pattern: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_setup_problems_are_one_line(aws: MotoServer, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("")
    base = ["run", IMAGE, "--engine", "sagemaker", "--config", str(config), "-q"]
    _one_line_error(_sm_lint(*base), 2, r"needs the job's execution role: give --role ROLE_ARN")
    _one_line_error(_sm_lint(*base, "--role", "admin"), 2, r"--role 'admin': not an IAM role ARN")
    _one_line_error(_sm_lint(*base, "--role", ROLE, "--job-input", f"{tmp_path}:/opt/ml/processing/input/d"), 2,
                    r"must go through S3 on the sagemaker engine: give --s3-prefix")
    _one_line_error(_sm_lint(*base, "--role", ROLE, "--profile", "training"), 2,
                    r"--engine sagemaker runs Processing jobs only")
    _one_line_error(_sm_lint("run", IMAGE, "--role", ROLE), 2, r"--role goes with --engine sagemaker")
    # No boto3: a stand-in module that cannot be imported, first on the path.
    (tmp_path / "no-boto3").mkdir()
    (tmp_path / "no-boto3" / "boto3.py").write_text("raise ImportError('No module named boto3')\n")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'no-boto3'}{os.pathsep}{ROOT / 'src'}")
    done = subprocess.run([sys.executable, "-m", "sm_lint", *base, "--role", ROLE], env=env, capture_output=True,
                          text=True, timeout=60)
    _one_line_error(done, 3, r"needs boto3: pip install 'sm-lint\[aws\]'")
    # No credentials anywhere (and no instance metadata to ask).
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(PYTHONPATH=str(ROOT / "src"), AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    done = subprocess.run([sys.executable, "-m", "sm_lint", *base, "--role", ROLE], env=env, capture_output=True,
                          text=True, timeout=60)
    _one_line_error(done, 3, r"no AWS credentials found")
    env.pop("AWS_DEFAULT_REGION")
    done = subprocess.run([sys.executable, "-m", "sm_lint", *base, "--role", ROLE], env=env, capture_output=True,
                          text=True, timeout=60)
    _one_line_error(done, 3, r"no AWS region: give --region")
    assert aws.requests("SageMaker.CreateProcessingJob") == []


def test_json_report_of_a_cloud_run(aws: MotoServer, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("")
    done = _sm_lint("run", IMAGE, "--engine", "sagemaker", "--role", ROLE, "--config", str(tmp_path / "c.toml"),
                    "-q", "-f", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == [] and report["facts"]["job"] == "Completed"
    assert report["facts"]["engine"].startswith("sagemaker")
    assert "cost bound" in report["facts"]
    assert not {"SM301", "SM302", "SM303"} & {item["rule"] for item in report["skipped"]}  # they ran


def test_the_old_spellings_take_s3_uris_and_a_missing_bucket_is_one_line(aws: MotoServer, tmp_path: Path) -> None:
    """`--input S3URI:LOCALPATH` and `--output LOCALPATH:S3URI` (the issue's spelling) are the old
    spellings of --job-input/--job-output; an S3 staging bucket that does not exist is exit 3."""
    (tmp_path / "c.toml").write_text("")
    base = ["run", IMAGE, "--engine", "sagemaker", "--role", ROLE, "--config", str(tmp_path / "c.toml"), "-q"]
    done = _sm_lint(*base, "--input", f"s3://{BUCKET}/in:/opt/ml/processing/input/a",
                    "--output", f"/opt/ml/processing/output/b:s3://{BUCKET}/out")
    assert done.returncode == 0, done.stderr
    (sent,) = aws.requests("SageMaker.CreateProcessingJob")
    assert sent["ProcessingInputs"][0]["S3Input"]["S3Uri"] == f"s3://{BUCKET}/in"
    assert sent["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"s3://{BUCKET}/out"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1\n")
    done = _sm_lint(*base, "--s3-prefix", "s3://no-such-bucket/ci", "--job-input",
                    f"{tmp_path / 'data'}:/opt/ml/processing/input/d")
    _one_line_error(done, 3, r"s3:PutObject failed: .*(NoSuchBucket|does not exist)")
    assert len(aws.requests("SageMaker.CreateProcessingJob")) == 1  # none more


def test_rejected_credentials_are_one_line() -> None:
    import botocore.exceptions

    from sm_lint.errors import EnvironmentFailure
    from sm_lint.harness.sagemaker.aws import call

    def rejected() -> None:
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "InvalidClientTokenId", "Message": "The security token included in the request is invalid."}},
            "GetCallerIdentity")

    with pytest.raises(EnvironmentFailure, match=r"^sts:GetCallerIdentity failed: InvalidClientTokenId: The security"):
        call(rejected, "sts", "GetCallerIdentity")


@pytest.mark.docker
def test_gate_runs_the_runtime_layer_on_sagemaker(aws: MotoServer, docker_client: Any, tmp_path: Path) -> None:
    """`engine = "sagemaker"` under [gate]: the Dockerfile and the image are checked here, the
    runtime layer is a Processing job (moto's), and the reports say which engine ran it."""
    from docker_support import build_image

    image = build_image(docker_client, 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox", "true"]\n')
    (tmp_path / ".sm-lint.toml").write_text(f'[gate]\nimage = "{image}"\nengine = "sagemaker"\nrole = "{ROLE}"\n'
                                            'jobs = 2\nscenario = ["completion", "stop"]\n')
    done = _sm_lint("gate", "-q", "-f", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["facts"]["engine"].startswith("sagemaker") and report["facts"]["job"] == "Completed"
    sent = aws.requests("SageMaker.CreateProcessingJob")
    assert sorted(request["ProcessingJobName"].split("-")[2] for request in sent) == ["completion", "stop"]
    assert {request["AppSpecification"]["ImageUri"] for request in sent} == {image}


def test_the_region_comes_from_aws_region_too(aws: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore reads AWS_DEFAULT_REGION only; AWS_REGION (the AWS CLI v2's first choice) works too."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    (tmp_path / "c.toml").write_text("")
    done = _sm_lint("run", IMAGE, "--engine", "sagemaker", "--role", ROLE, "--config", str(tmp_path / "c.toml"),
                    "-q", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["facts"]["region"] == "eu-west-1"


def test_the_example_script_runs_its_jobs(aws: MotoServer, tmp_path: Path) -> None:
    """examples/sagemaker/verify.sh against moto: its flags are right and it writes its reports
    (what the real service then says is for its user to see)."""
    shim = tmp_path / "bin" / "sm-lint"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sm_lint "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{shim.parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(["sh", str(ROOT / "examples" / "sagemaker" / "verify.sh"), ROLE], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    sent = aws.requests("SageMaker.CreateProcessingJob")
    assert sorted(request["ProcessingJobName"].split("-")[2] for request in sent) == ["completion", "completion", "stop"]
    assert all(request["AppSpecification"]["ContainerEntrypoint"] == ["python3"] for request in sent)
    assert all(request["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge" for request in sent)
    for name in ("good", "failing"):
        assert json.loads((tmp_path / "sm-lint-verify" / f"{name}.json").read_text())["command"] == "run"
    assert "stopped 0 left-over processing jobs" in done.stdout
