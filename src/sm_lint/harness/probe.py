"""How the harness reaches a serving container: as SageMaker does, over the network, from outside
the container, on port 8080 (or SAGEMAKER_BIND_TO_PORT).

A second container, the probe, joins the job's private network and makes each HTTP request with
`docker exec` of a small static client (probe/probe.c, shipped built for linux/amd64 and
linux/arm64 in data/probe/). Nothing is published on the host and nothing is mounted, so a remote
engine (DOCKER_HOST=tcp:// or ssh://) works as the local one does, and the image under test needs
no tool of its own. The probe's image is made with `docker import` from that one binary (no
registry, no build), labelled like every container of the run and removed with them (lifecycle.py).
A request's times are measured by the client inside the engine's network, so the exec's own cost
is not counted. A server that listens on 127.0.0.1 only is not reached, as on SageMaker.
"""
from __future__ import annotations

import io
import tarfile
from importlib import resources
from typing import Any, List, NamedTuple, Optional

from sm_lint.errors import EnvironmentFailure
from sm_lint.harness.container_exec import exec_output
from sm_lint.harness.lifecycle import Session
from sm_lint.image.engine import explain

PROBE_PATH = "/sm-lint-probe"
BODY_PATH = "/payload"
REPOSITORY = "sm-lint-probe"
# The engine's `Architecture` (uname -m) -> the shipped binary's suffix.
DOCKER_DNS = "127.0.0.11:"
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class Answer(NamedTuple):
    status: int  # 0: no HTTP status line came back
    connect_ms: float  # -1 when the connection was never made
    total_ms: float  # from the start of the connect to the end of the answer (or the failure)
    error: Optional[str]  # None, or refused / unreachable / timeout / reset / closed / bad-response
    body_bytes: int
    body: bytes  # the first 64 KiB

    @property
    def seconds(self) -> float:
        return self.total_ms / 1000

    def words(self) -> str:
        """`HTTP 200 in 0.012 s`, `connection refused after 0.001 s`, ..."""
        if self.error is None:
            return f"HTTP {self.status} in {self.seconds:.3f} s"
        what = {"refused": "connection refused", "unreachable": "address unreachable",
                "timeout": "no answer", "reset": "connection reset", "closed": "connection closed without an answer",
                "bad-response": "not an HTTP answer", "bad-body-file": "the payload could not be read"}
        prefix = f"HTTP {self.status}, then " if self.status else ""
        return f"{prefix}{what.get(self.error, self.error)} after {self.seconds:.3f} s"


class Unavailable(Exception):
    """No probe for the engine's architecture: the serving checks cannot run (a skip, with why)."""


def binary_for(architecture: str) -> bytes:
    suffix = ARCHITECTURES.get(architecture.lower())
    if suffix is None:
        raise Unavailable(f"sm-lint ships its serving probe for linux/amd64 and linux/arm64, not for the "
                          f"engine's {architecture or 'unknown'} architecture")
    return (resources.files("sm_lint") / "data" / "probe" / f"sm-lint-probe-{suffix}").read_bytes()


class Probe:
    """The probe container on `network`; `request` makes one HTTP request from it."""

    def __init__(self, session: Session, network: Any, scenario: str) -> None:
        import docker.errors

        architecture = str(session.client.info().get("Architecture") or "")
        rootfs = io.BytesIO()
        with tarfile.open(fileobj=rootfs, mode="w") as tar:
            data = binary_for(architecture)
            info = tarfile.TarInfo(PROBE_PATH.lstrip("/"))
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        image = session.import_image(rootfs.getvalue(), REPOSITORY, [f'ENTRYPOINT ["{PROBE_PATH}", "idle"]'])
        self.session = session
        self.image = image
        self.scenario = scenario
        try:
            self.container = session.create_container(scenario, f"{scenario}-probe", image=image, network=network.name,
                                                      privileged=False, mem_limit=64 << 20, pids_limit=64)
            self.container.start()
        except docker.errors.APIError as error:
            raise EnvironmentFailure(f"the engine refused to start the serving probe: {explain(error)}") from error

    def put_body(self, data: bytes) -> None:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(BODY_PATH.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive("/", archive.getvalue())

    def request(self, method: str, address: str, port: int, path: str, timeout: float, body: bool = False,
                content_type: Optional[str] = None, accept: Optional[str] = None) -> Answer:
        """One request; `body` sends the file given to put_body. Never raises for what the server
        does; an engine that will not run the exec is an EnvironmentFailure."""
        import docker.errors

        argv = [PROBE_PATH, "request", method, address, str(port), path, str(int(timeout * 1000)),
                BODY_PATH if body else "", content_type or "", accept or ""]
        try:
            code, output = exec_output(self.container, argv)
        except docker.errors.APIError as error:
            raise EnvironmentFailure(f"the engine refused to run the serving probe: {explain(error)}") from error
        return parse(output, code)

    def listening(self, target: Any) -> Optional[List[str]]:
        """The listening TCP sockets in `target`'s network namespace (`ADDRESS:PORT`), read by a
        short-lived probe container that shares it; None when that cannot be done."""
        import docker.errors

        try:
            helper = self.session.create_container(self.scenario, f"{self.scenario}-listening-{target.name[-12:]}",
                                                   image=self.image, entrypoint=[PROBE_PATH, "listening"],
                                                   network_mode=f"container:{target.id}", privileged=False)
            try:
                helper.start()
                helper.wait(timeout=30)
                text = helper.logs(stdout=True, stderr=False).decode("ascii", "replace")
            finally:
                self.session.remove_container(helper)
        except (docker.errors.APIError, OSError):
            return None  # the container has exited: no namespace to look into
        # Docker's embedded DNS server listens on 127.0.0.11 in every container of a user-defined
        # network: the engine's, not the image's.
        return sorted({item for item in text.split() if not item.startswith(DOCKER_DNS)})


def parse(output: bytes, code: int = 0) -> Answer:
    """The probe's `result STATUS CONNECT_MS TOTAL_MS ERROR BODY_BYTES` line and the body after it."""
    line, _, body = output.partition(b"\n")
    words = line.decode("ascii", "replace").split()
    if code != 0 or len(words) != 6 or words[0] != "result":
        raise EnvironmentFailure(f"the serving probe failed (exit {code}): {output[:200]!r}")
    status, connect_ms, total_ms, error, size = words[1:]
    return Answer(int(status), float(connect_ms), float(total_ms), None if error == "-" else error, int(size), body)
