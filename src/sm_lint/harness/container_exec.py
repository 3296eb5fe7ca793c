"""A command run in a running container (`docker exec`), its exit code and its whole output.

The docker SDK's `exec_run` reads the exec's output from the raw socket under the HTTP response,
after http.client has read the headers through a buffer: whatever output arrived in the same read
as the headers sits in that buffer and is lost, so a fast command returns exit 0 and no output
(docker/docker-py#2042 and #3332, both open). Over a unix socket that rarely happens; over tcp://
it happened in two runs of three here (tests/test_run_profiles.py, through a TCP relay). Here the
exec is started with a plain HTTP request instead, whose body, with no length and no upgrade, the
engine streams until it closes the connection; the response reads it whole, buffer included.
"""
from __future__ import annotations

import struct
from typing import Any, List, Tuple

FRAME_HEADER = struct.Struct(">BxxxL")  # the engine's multiplexed stream: stream id, 3 pad, size


def exec_output(container: Any, argv: List[str]) -> Tuple[int, bytes]:
    """(exit code, stdout and stderr in the order the engine sent them: they are separate pipes, so a
    line on stderr may come before one written earlier to stdout); docker.errors.APIError when the
    engine refuses."""
    import docker.errors
    import requests

    api = container.client.api
    exec_id = api.exec_create(container.id, argv, stdout=True, stderr=True)["Id"]
    response = api.post(api._url("/exec/{0}/start", exec_id), json={"Detach": False, "Tty": False}, stream=True)
    try:
        response.raise_for_status()
    except requests.HTTPError as error:
        raise docker.errors.create_api_error_from_http_exception(error) from error
    with response:
        stream = response.raw.read()
    code = api.exec_inspect(exec_id).get("ExitCode")
    return (code if code is not None else -1), demultiplex(stream)


def demultiplex(stream: bytes) -> bytes:
    """The payloads of the engine's frames, in the order they came."""
    output, offset = [], 0
    while offset + FRAME_HEADER.size <= len(stream):
        _, size = FRAME_HEADER.unpack_from(stream, offset)
        offset += FRAME_HEADER.size
        output.append(stream[offset:offset + size])
        offset += size
    return b"".join(output)
