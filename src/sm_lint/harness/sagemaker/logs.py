"""A Processing job's CloudWatch logs: group `/aws/sagemaker/ProcessingJobs`, one stream per host,
named `<job name>/algo-<n>-<epoch seconds>` ("Log Amazon SageMaker Events with Amazon CloudWatch":
https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html). A stream appears once its
container writes; a container that writes nothing has none. Each event is one line of the
container's stdout or stderr.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from sm_lint.harness.sagemaker.aws import call, code_of

GROUP = "/aws/sagemaker/ProcessingJobs"
MISSING = "ResourceNotFoundException"  # no group yet (a new account) or no such stream


class Logs:
    def __init__(self, client: Any, job: str) -> None:
        self.client = client
        self.job = job
        self._streams: Dict[str, str] = {}  # host -> stream name
        self._tokens: Dict[str, Optional[str]] = {}  # host -> forward token of follow()
        self._host = re.compile(re.escape(job) + r"/(algo-\d+)-\d+\Z")

    def streams(self) -> Dict[str, str]:
        """host -> stream name, for every host that has written (DescribeLogStreams, all pages)."""
        import botocore.exceptions

        token: Optional[str] = None
        while True:
            arguments: Dict[str, Any] = {"logGroupName": GROUP, "logStreamNamePrefix": f"{self.job}/"}
            if token:
                arguments["nextToken"] = token
            try:
                page = call(lambda: self.client.describe_log_streams(**arguments), "logs", "DescribeLogStreams",
                            expect=(MISSING,))
            except botocore.exceptions.ClientError as error:
                if code_of(error) == MISSING:
                    return dict(self._streams)
                raise
            for stream in page.get("logStreams", []):
                match = self._host.match(stream.get("logStreamName", ""))
                if match:
                    self._streams.setdefault(match.group(1), stream["logStreamName"])
            token = page.get("nextToken")
            if not token:
                return dict(self._streams)

    def tail(self, host: str, lines: int) -> List[str]:
        """The last `lines` lines of a host (one GetLogEvents from the end); [] when it wrote none."""
        import botocore.exceptions

        stream = self._streams.get(host) or self.streams().get(host)
        if stream is None:
            return []
        try:
            page = call(lambda: self.client.get_log_events(logGroupName=GROUP, logStreamName=stream,
                                                           startFromHead=False, limit=lines),
                        "logs", "GetLogEvents", expect=(MISSING,))
        except botocore.exceptions.ClientError as error:
            if code_of(error) == MISSING:
                return []
            raise
        return [_line(event) for event in page.get("events", [])][-lines:]

    def follow(self, host: str) -> List[str]:
        """The lines a host wrote since the last call, every page of them (GetLogEvents from the
        head with the forward token; the end is reached when the token comes back unchanged)."""
        import botocore.exceptions

        stream = self._streams.get(host) or self.streams().get(host)
        if stream is None:
            return []
        found: List[str] = []
        token = self._tokens.get(host)
        while True:
            arguments: Dict[str, Any] = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
            if token:
                arguments["nextToken"] = token
            try:
                page = call(lambda: self.client.get_log_events(**arguments), "logs", "GetLogEvents", expect=(MISSING,))
            except botocore.exceptions.ClientError as error:
                if code_of(error) == MISSING:
                    return found
                raise
            found += [_line(event) for event in page.get("events", [])]
            following = page.get("nextForwardToken")
            if not following or following == token:
                self._tokens[host] = token
                return found
            token = following


def _line(event: Dict[str, Any]) -> str:
    return str(event.get("message", "")).rstrip("\r\n")
