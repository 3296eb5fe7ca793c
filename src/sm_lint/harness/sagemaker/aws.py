"""boto3 for the sagemaker engine: imported here only, so no other path pays for it (or needs it).

The standard credential chain and region resolution of boto3 are used as they are (env, shared
config and credentials files, AWS_PROFILE, SSO, container and instance roles); `AWS_ENDPOINT_URL`
(botocore >= 1.31) points every client at another endpoint, as the tests do with moto. Retries are
botocore's "adaptive" mode: throttled calls back off and the client rate-limits itself, so a fan-out
of jobs stays within the account's request quotas.

Every failure of the service or of the setup becomes an EnvironmentFailure with one line (exit 3):
no boto3, no credentials, no region, an endpoint that does not answer, an AccessDenied naming the
IAM action that is missing.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, NamedTuple, Optional, Tuple, TypeVar

from sm_lint.errors import EnvironmentFailure

T = TypeVar("T")
MAX_ATTEMPTS = 10  # per call, throttling included (botocore's default for adaptive is 3)
# Error codes of the AWS APIs that mean "you may not": the missing action is then named.
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError")
ANY = "*"  # call(expect=(ANY,)): every error code of the service is the caller's to handle
THROTTLED = ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
             "SlowDown", "ProvisionedThroughputExceededException")
_ACTION = re.compile(r"not authorized to perform:?\s+([a-z0-9-]+:[A-Za-z0-9*]+)")


class AccessDenied(EnvironmentFailure):
    """The service said no to this identity: nothing was done."""


class Clients(NamedTuple):
    sagemaker: Any
    logs: Any
    s3: Any
    region: str
    caller: str  # the ARN of the identity the credentials belong to (sts:GetCallerIdentity)


def connect(region: Optional[str] = None) -> Clients:
    """The clients of one run, after proving that boto3, a region and working credentials are there
    (before any job is created)."""
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError:
        raise EnvironmentFailure("--engine sagemaker needs boto3: pip install 'sm-lint[aws]'") from None
    # botocore reads AWS_DEFAULT_REGION only; the AWS CLI v2 and the other SDKs read AWS_REGION first.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.session.Session(region_name=region)
    except botocore.exceptions.ProfileNotFound as error:
        raise EnvironmentFailure(f"AWS profile not found: {error}") from None
    if session.region_name is None:
        raise EnvironmentFailure("no AWS region: give --region or set AWS_REGION or AWS_DEFAULT_REGION (or a region in "
                                 "the AWS profile)")
    if session.get_credentials() is None:
        raise EnvironmentFailure("no AWS credentials found (environment, ~/.aws/credentials, AWS_PROFILE, SSO or an "
                                 "instance role): configure them, for example with `aws configure`")
    config = botocore.config.Config(retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
                                    user_agent_extra="sm-lint")
    make = lambda name: session.client(name, config=config)  # noqa: E731
    sts = make("sts")
    identity = call(lambda: sts.get_caller_identity(), "sts", "GetCallerIdentity")
    return Clients(make("sagemaker"), make("logs"), make("s3"), session.region_name, str(identity.get("Arn", "")))


def call(action: Callable[[], T], service: str, operation: str, expect: Tuple[str, ...] = ()) -> T:
    """One API call. The service's error codes in `expect` come back to the caller as botocore's
    ClientError (ANY: every code); every other failure is one line (EnvironmentFailure; AccessDenied
    naming the IAM action)."""
    import boto3.exceptions
    import botocore.exceptions

    try:
        return action()
    except botocore.exceptions.ClientError as error:
        code = code_of(error)
        if code in DENIED:
            raise AccessDenied(denied(error, service, operation)) from None
        if ANY in expect or code in expect:
            raise
        raise EnvironmentFailure(f"{service}:{operation} failed: {code}: {message_of(error)}") from None
    except botocore.exceptions.NoCredentialsError:
        raise EnvironmentFailure("no AWS credentials found: configure them, for example with `aws configure`") from None
    except botocore.exceptions.EndpointConnectionError as error:
        raise EnvironmentFailure(f"cannot reach the {service} endpoint: {error}") from None
    except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as error:
        # S3UploadFailedError (upload_file) carries the service's words in its text
        denial = _ACTION.search(str(error))
        if denial:
            raise AccessDenied(f"AWS denied {denial.group(1)}: the identity lacks the IAM permission ({error})") from None
        raise EnvironmentFailure(f"{service}:{operation} failed: {' '.join(str(error).split())}") from None


def code_of(error: Any) -> str:
    return str(((getattr(error, "response", None) or {}).get("Error") or {}).get("Code", ""))


def message_of(error: Any) -> str:
    text = str(((getattr(error, "response", None) or {}).get("Error") or {}).get("Message", "")) or str(error)
    return " ".join(text.split())


def denied(error: Any, service: str, operation: str) -> str:
    """`AccessDenied` as one line naming the IAM action: the one the service names, or the
    operation's own (`sagemaker:CreateProcessingJob`)."""
    message = message_of(error)
    found = _ACTION.search(message)
    action = found.group(1) if found else f"{service}:{operation}"
    return f"AWS denied {action}: the identity lacks the IAM permission ({message})"


def throttled(error: Any) -> bool:
    return code_of(error) in THROTTLED
