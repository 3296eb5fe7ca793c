"""Images from a Docker engine, through the docker SDK: connect, then stream `docker save`.

`docker` is imported inside the functions: `sm-lint check` must never pay for it (about 130 ms).
The engine is asked for nothing but the image's save archive, which is streamed chunk by chunk to
the archive reader, so an image of many gigabytes never lands on disk or in memory whole.
"""
from __future__ import annotations

import os
import re
import weakref
from typing import TYPE_CHECKING, Iterator, Optional

from sm_lint.errors import EnvironmentFailure

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

    from sm_lint.image.model import ImageView

DEFAULT_HOST = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT = 5.0  # seconds for the first request: a missing engine must fail fast
# Once the engine answered, a request may legitimately sit idle for long (the engine assembles a
# big layer before the first byte of it), so the per-read timeout is relaxed to this.
OPERATION_TIMEOUT = 600.0

# The host each client was made for, to name it in later errors (the SDK keeps only a base URL
# such as "http+docker://localhost", which says nothing about which socket).
_hosts: "weakref.WeakKeyDictionary[DockerClient, str]" = weakref.WeakKeyDictionary()


def connect(docker_host: Optional[str] = None, timeout: float = CONNECT_TIMEOUT) -> DockerClient:
    """A client for `docker_host`, else DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), else
    the CLI's current context or the default socket; EnvironmentFailure when nothing answers."""
    import docker
    import docker.errors

    environment = dict(os.environ)
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
    host = _describe_host(environment)
    try:
        # version=None makes the SDK ask the engine for its API version: that request is the
        # reachability check, bounded by `timeout`.
        client = docker.from_env(
            environment=environment,
            timeout=timeout,
            version=None,
            # No paramiko dependency: ssh:// goes through the ssh client, as the docker CLI does.
            use_ssh_client=host.startswith("ssh://"),
        )
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise EnvironmentFailure(f"cannot reach a Docker engine at {host}: {_one_line(exc)}") from exc
    client.api.timeout = OPERATION_TIMEOUT
    _hosts[client] = host
    return client


def save_stream(client: DockerClient, reference: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The `docker save` archive of `reference`, as chunks. The image is looked up before this
    returns, so a missing image fails here rather than at the first chunk."""
    image = find_image(client, reference)
    # Saving by tag keeps the name in the archive's manifest (RepoTags); by id it would be empty.
    named = reference if reference in image.tags else False
    return _chunks(image.save(chunk_size=chunk_size, named=named), reference, host_of(client))


def find_image(client: DockerClient, reference: str, pull: Optional[bool] = None) -> "Image":
    """The engine's image `reference`, or EnvironmentFailure. A missing image is pulled only when
    `pull` is True; None says the command never pulls, False that it would with --pull."""
    import docker.errors

    host = host_of(client)
    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound as exc:
        if not pull:
            hint = "sm-lint does not pull" if pull is None else "sm-lint run pulls only with --pull"
            raise EnvironmentFailure(f"image {reference} not found in the engine at {host} ({hint})") from exc
    except (docker.errors.DockerException, OSError) as exc:
        raise EnvironmentFailure(f"cannot look up image {reference} in the engine at {host}: {explain(exc)}") from exc
    try:
        return client.images.pull(reference)
    except docker.errors.APIError as exc:
        raise EnvironmentFailure(f"cannot pull {reference} into the engine at {host}: {explain(exc)}") from exc


def image_from_engine(reference: str, docker_host: Optional[str] = None,
                      platform: str = "linux/amd64") -> ImageView:
    """The ImageView of an image that the engine already has."""
    from sm_lint.image.archive import read_stream

    client = connect(docker_host)
    try:
        return read_stream(save_stream(client, reference), reference, platform, holder="engine")
    finally:
        client.close()


def host_of(client: DockerClient) -> str:
    return _hosts.get(client) or str(client.api.base_url)


def _chunks(raw: Iterator[bytes], reference: str, host: str) -> Iterator[bytes]:
    import docker.errors
    import requests

    try:
        yield from raw
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise EnvironmentFailure(
            f"the engine at {host} stopped sending image {reference}: {_one_line(exc)}"
        ) from exc


def _describe_host(environment: "dict[str, str]") -> str:
    if environment.get("DOCKER_HOST"):
        return environment["DOCKER_HOST"]
    try:  # the SDK (7.2+) falls back to the CLI's current context, as `docker` itself does
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
        if context is not None and context.Host:
            return str(context.Host)
    except Exception:  # a broken ~/.docker/config.json must not hide the real error
        pass
    return DEFAULT_HOST


def explain(exc: BaseException) -> str:
    """What the engine said, on one line: an API error's explanation in full (a refusal quotes the
    runtime's own message, which callers match), else the cause without its wrapping."""
    explanation = getattr(exc, "explanation", None)
    return " ".join(str(explanation).split()) if explanation else _one_line(exc)


def _one_line(exc: BaseException) -> str:
    """The cause, without the layers of wrapping that requests and urllib3 put around it."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.replace("Error while fetching server API version: ", "")
    errno = _ERRNO.search(text)
    if errno:  # "HTTPConnectionPool(...): Max retries exceeded ... [Errno 111] Connection refused"
        return errno.group(1).strip()
    errno_repr = _ERRNO_REPR.search(text)
    if errno_repr:  # "('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
        return errno_repr.group(1)
    return text if len(text) <= 300 else text[:297] + "..."


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_ERRNO_REPR = re.compile(r"\w+Error\(-?\d+, '([^']+)'\)")
