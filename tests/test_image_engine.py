"""The engine image source: reaching engines (socket, tcp, DOCKER_HOST), failing fast and clearly
when none answers or the image is missing, and streaming `docker save`."""
from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from docker_support import build_image, tcp_loopback
from sm_lint.errors import EXIT_ENVIRONMENT, EnvironmentFailure
from sm_lint.image import engine


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: an engine that hangs."""
    server = socket.create_server(("127.0.0.1", 0))
    held: List[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()


# Without an engine ---------------------------------------------------------------------------

def test_refused_tcp_port_is_an_environment_failure_naming_the_host() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:  # a port that was free a moment ago
        port = probe.getsockname()[1]
    with pytest.raises(EnvironmentFailure) as caught:
        engine.connect(f"tcp://127.0.0.1:{port}")
    assert caught.value.exit_code == EXIT_ENVIRONMENT
    message = str(caught.value)
    assert message == f"cannot reach a Docker engine at tcp://127.0.0.1:{port}: Connection refused"


def test_missing_socket_and_bad_address_are_environment_failures() -> None:
    with pytest.raises(EnvironmentFailure, match=r"^cannot reach a Docker engine at unix:///nonexistent/docker.sock: "
                                                 r"No such file or directory$"):
        engine.connect("unix:///nonexistent/docker.sock")
    with pytest.raises(EnvironmentFailure, match="at bogus://engine: "):
        engine.connect("bogus://engine")


def test_ssh_host_fails_as_an_environment_failure() -> None:
    # Either "Install paramiko ..." (the SDK's ssh transport needs it) or the ssh error itself.
    with pytest.raises(EnvironmentFailure, match=r"^cannot reach a Docker engine at ssh://nobody@127\.0\.0\.1:1: "):
        engine.connect("ssh://nobody@127.0.0.1:1", timeout=2)


def test_hanging_engine_fails_after_the_connect_timeout(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(EnvironmentFailure, match=f"at tcp://127.0.0.1:{silent_port}: .*timed out"):
        engine.connect(f"tcp://127.0.0.1:{silent_port}", timeout=0.5)
    # A hang guard, not a speed test: without the short timeout the SDK would wait 60 s.
    assert time.monotonic() - started < 30


def test_docker_host_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/from-env.sock")
    with pytest.raises(EnvironmentFailure, match="at unix:///nonexistent/from-env.sock: "):
        engine.connect(None)
    with pytest.raises(EnvironmentFailure, match="at unix:///nonexistent/explicit.sock: "):
        engine.connect("unix:///nonexistent/explicit.sock")  # the flag wins over the environment


def test_importing_the_engine_module_does_not_import_docker() -> None:
    code = "import sys, sm_lint.image.engine; assert 'docker' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1] / "src")


# With the engine -----------------------------------------------------------------------------

SMALL = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY a.txt /a.txt\n"


def _unix_socket_path(client: object) -> str:
    host = engine.host_of(client)  # type: ignore[arg-type]
    if not host.startswith("unix://"):
        pytest.skip(f"the tcp relay forwards to a unix socket; this engine is at {host}")
    return host[len("unix://"):]


@pytest.mark.docker
def test_tcp_loopback_engine_and_docker_host(docker_client, monkeypatch: pytest.MonkeyPatch) -> None:
    with tcp_loopback(_unix_socket_path(docker_client)) as address:
        tag = f"sm-lint-test/tcp:{uuid.uuid4().hex[:8]}"
        image_id = build_image(docker_client, SMALL, {"a.txt": "a"}, tag=tag)
        over_tcp = engine.connect(address)
        assert engine.host_of(over_tcp) == address
        assert over_tcp.images.get(tag).id == image_id
        over_tcp.close()
        monkeypatch.setenv("DOCKER_HOST", address)
        from_env = engine.connect(None)
        archive = b"".join(engine.save_stream(from_env, tag, chunk_size=4096))
        from_env.close()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [tag]


@pytest.mark.docker
def test_missing_image_is_a_clear_environment_failure(docker_client) -> None:
    client = engine.connect(None)
    reference = f"sm-lint-test/never-built:{uuid.uuid4().hex[:8]}"
    with pytest.raises(EnvironmentFailure) as caught:
        engine.save_stream(client, reference)
    host = engine.host_of(client)
    assert str(caught.value) == f"image {reference} not found in the engine at {host} (sm-lint does not pull)"
    assert caught.value.exit_code == EXIT_ENVIRONMENT


@pytest.mark.docker
def test_save_stream_yields_bounded_chunks_of_the_archive(docker_client) -> None:
    image_id = build_image(docker_client, SMALL, {"a.txt": "a"})
    client = engine.connect(None)
    chunks = list(engine.save_stream(client, image_id, chunk_size=64 * 1024))
    assert len(chunks) > 10 and max(len(chunk) for chunk in chunks) <= 64 * 1024  # busybox is ~2 MB
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] is None  # saved by id: no name to record
    assert manifest[0]["Config"].startswith(image_id.split(":")[1])


# Through the archive reader ---------------------------------------------------------------------

LAYERED = """\
FROM scratch
COPY busybox /bin/busybox
COPY gone.txt /data/gone.txt
COPY keep/ /data/keep/
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm /data/gone.txt && /bin/busybox rm -r /data/keep && /bin/busybox mkdir /data/keep && echo new > /data/keep/new.txt"]
COPY model.txt /opt/ml/model/model.txt
ENTRYPOINT ["/bin/busybox", "cat", "/opt/ml/model/model.txt"]
"""


@pytest.mark.docker
def test_engine_stream_and_saved_archive_give_the_same_view(docker_client) -> None:
    from docker_support import save_image
    from sm_lint.image.archive import read_archive

    tag = f"sm-lint-test/layers:{uuid.uuid4().hex[:8]}"
    build_image(docker_client, LAYERED, {"gone.txt": "deleted later\n", "keep/old.txt": "old\n",
                                         "model.txt": "weights\n"}, tag=tag)
    from_engine = engine.image_from_engine(tag)
    from_file = read_archive(str(save_image(docker_client, tag)))

    assert from_engine.source == tag
    assert (from_engine.platforms_from, from_file.platforms_from) == ("engine", "archive")  # SM230's wording
    assert from_engine._replace(source="", platforms_from="") == from_file._replace(source="", platforms_from="")
    files = from_engine.files
    assert "/data/gone.txt" not in files  # whiteout in the RUN layer
    assert "/data/keep/old.txt" not in files and files["/data/keep/new.txt"].layer == 3  # opaque dir
    assert files["/opt/ml/model/model.txt"].layer == 4
    assert len(from_engine.layers) == 5
    assert from_engine.config.entrypoint == ("/bin/busybox", "cat", "/opt/ml/model/model.txt")


@pytest.mark.docker
def test_image_from_engine_missing_image_and_unreachable_host(docker_client) -> None:
    with pytest.raises(EnvironmentFailure, match=r"^image sm-lint-test/absent:x not found in the engine at "):
        engine.image_from_engine("sm-lint-test/absent:x")
    with pytest.raises(EnvironmentFailure, match=r"^cannot reach a Docker engine at unix:///nonexistent/d.sock"):
        engine.image_from_engine("anything", docker_host="unix:///nonexistent/d.sock")
