"""`docker exec` output read whole, over a unix socket and over tcp:// (harness/container_exec.py).

The SDK's own `exec_run` returned exit 0 and no output for a fast command in two tries of three
through the TCP relay (docker/docker-py#2042, #3332); these tests run enough fast commands that
a reader with that flaw fails them.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pytest

from docker_support import build_image, tcp_loopback
from sm_lint.harness.container_exec import FRAME_HEADER, demultiplex, exec_output

FAST_COMMANDS = 25


def frame(stream: int, data: bytes) -> bytes:
    return FRAME_HEADER.pack(stream, len(data)) + data


def test_demultiplex_keeps_the_frames_in_the_order_they_came() -> None:
    assert demultiplex(frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"") + frame(1, b"more")) == b"out\nerr\nmore"
    assert demultiplex(b"") == b""


@pytest.fixture(params=["unix", "tcp"])
def container(request: pytest.FixtureRequest, docker_client: Any) -> Iterator[Any]:
    import docker

    image = build_image(docker_client, 'FROM scratch\nCOPY busybox /bin/busybox\n'
                                       'ENTRYPOINT ["/bin/busybox", "sleep", "600"]\n')
    with contextlib.ExitStack() as stack:
        client = docker_client
        if request.param == "tcp":
            address = stack.enter_context(tcp_loopback("/var/run/docker.sock"))
            client = docker.DockerClient(base_url=address)
            stack.callback(client.close)
        running = client.containers.run(image, detach=True)
        stack.callback(running.remove, force=True)
        yield running


def test_fast_commands_return_their_whole_output(container: Any) -> None:
    answers = [exec_output(container, ["/bin/busybox", "echo", f"answer {n}"]) for n in range(FAST_COMMANDS)]
    assert answers == [(0, f"answer {n}\n".encode()) for n in range(FAST_COMMANDS)]


def test_exit_code_and_both_streams(container: Any) -> None:
    """Both streams, each whole; their order between each other is the engine's (two pipes)."""
    script = "echo out; echo err >&2; exit 3"
    code, output = exec_output(container, ["/bin/busybox", "sh", "-c", script])
    assert code == 3 and sorted(output.splitlines()) == [b"err", b"out"]


def test_output_larger_than_one_read(container: Any) -> None:
    code, output = exec_output(container, ["/bin/busybox", "cat", "/bin/busybox"])
    assert code == 0 and output == open("/bin/busybox", "rb").read()


def test_a_command_that_is_not_there_is_an_error_or_a_failing_exit(container: Any) -> None:
    import docker.errors

    try:
        code, _ = exec_output(container, ["/no/such/program"])
    except docker.errors.APIError:
        return  # older engines refuse the exec itself
    assert code != 0
