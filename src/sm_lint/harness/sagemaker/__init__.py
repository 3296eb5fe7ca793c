"""`sm-lint run --engine sagemaker`: the harness's scenarios (completion, stop, gpu) as real
SageMaker Processing jobs, through boto3, with the same rule ids and report structure as the
Docker engine's.

Modules: aws.py (boto3, imported only here; clients, the one-line errors), service.py (the jobs of
one run: create, poll, stop, and stop on every way out), logs.py (CloudWatch Logs per host),
staging.py (local folders through S3), scenarios.py (the verdicts), engine.py (what run_command
calls: the plan in, outcomes out; `--cleanup`). Nothing heavy is imported here.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

ENGINES = ("docker", "sagemaker")
# MaxRuntimeInSeconds of a conformance job when neither --max-runtime nor the job file sets one: the
# service's own default is a day, which a job that never ends would be billed for.
DEFAULT_MAX_RUNTIME = 600
# The SM310 threshold on this engine when --grace is not given: seconds from StopProcessingJob to
# Stopped. Not measured on the service (no AWS here): a setting, said so in the report.
DEFAULT_STOP_GRACE = 60.0


class SageMakerOptions(NamedTuple):
    """What only the sagemaker engine needs; RunOptions carries the rest."""

    role: Optional[str] = None  # RoleArn; the job file's when None
    region: Optional[str] = None  # None: the standard chain (AWS_REGION, AWS_DEFAULT_REGION, profile)
    s3_prefix: Optional[str] = None  # s3://bucket/prefix where local --job-input/--job-output folders go
    jobs: int = 1  # scenarios run at once
    stop_grace: Optional[float] = None  # --grace; None: DEFAULT_STOP_GRACE
    force: bool = False  # --cleanup: also other machines' jobs
