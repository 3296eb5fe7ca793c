"""pytest plugin: a real Docker engine for the Docker-marked tests, and FROM-scratch test images.

No registry is reachable here, so every test image is built FROM scratch with the classic builder
from an in-memory context: Debian's static busybox (always in the context as `busybox`) and tiny
static C programs (`static_binary`). Everything built carries the label `sm-lint-test=<session>`
and is removed, with any container made from it, when the session ends.

Without an engine the tests that use `docker_client` skip, except when CI is set: then they fail,
because tests never skip in CI (scripts/test.sh provisions the engine there).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Mapping, NoReturn, Optional, Set, Union

import pytest

from sm_lint.errors import EnvironmentFailure

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image

LABEL_KEY = "sm-lint-test"
# A child pytest run can be told its session id, so that a test can check what it left behind.
SESSION_ID = os.environ.get("SM_LINT_TEST_SESSION") or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
BUSYBOX = Path("/bin/busybox")

FileContent = Union[bytes, str]


class BuildFailed(Exception):
    """The Dockerfile did not build: a bug in the test, so it is an error, never a skip."""


class ImageSession:
    """Images (and their containers) that belong to one labelled session, and their removal."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.label = f"{LABEL_KEY}={session_id}"
        # Intermediate images of the classic builder carry no label (it appends the LABEL step at
        # the end), so those of a failed build are remembered here to be removed too.
        self.seen_ids: Set[str] = set()

    def build(self, client: DockerClient, dockerfile: str, files: Optional[Mapping[str, FileContent]] = None,
              tag: Optional[str] = None) -> str:
        context = build_context(dockerfile, files or {})
        image_id = ""
        log: List[str] = []
        for entry in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                      pull=False, labels={LABEL_KEY: self.session_id}, decode=True):
            log.append(str(entry.get("stream") or entry.get("error") or ""))
            for step_id in _STEP_ID.findall(entry.get("stream") or ""):
                self.seen_ids.add(step_id)
            image_id = (entry.get("aux") or {}).get("ID", image_id)
            if "error" in entry:
                raise BuildFailed("".join(log).strip())
        if not image_id:
            raise BuildFailed("the engine reported no image id:\n" + "".join(log).strip())
        self.seen_ids.add(image_id)
        return str(image_id)

    def leftovers(self, client: DockerClient) -> Dict[str, List[str]]:
        """What of this session is still in the engine (empty lists once cleaned up)."""
        label = {"label": self.label}
        return {
            "containers": [c.id for c in client.containers.list(all=True, filters=label)],
            "images": [i.id for i in client.images.list(all=True, filters=label)],
        }

    def cleanup(self, client: DockerClient) -> None:
        import docker.errors

        # Containers inherit their image's labels, so the label finds every container made from
        # a session image; they go first, or their images could not be removed.
        for container in client.containers.list(all=True, filters={"label": self.label}):
            _ignore_gone(lambda: container.remove(force=True, v=True))
        # A labelled image may be the parent of another (FROM an earlier test image): remove
        # children first by repeating until no round makes progress.
        pending = [image.id for image in client.images.list(all=True, filters={"label": self.label})]
        while pending:
            left = []
            for image_id in pending:
                try:
                    client.images.remove(image_id, force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:
                    left.append(image_id)
            if len(left) == len(pending):
                raise RuntimeError(f"cannot remove test images {left}")
            pending = left
        for image_id in self.seen_ids:  # intermediates of failed builds; shared ones stay
            try:
                client.images.remove(image_id)
            except docker.errors.APIError:  # gone with its child, or still a parent of another
                pass


SESSION = ImageSession(SESSION_ID)
_save_dir: List[Path] = []  # set by the docker_client fixture: pytest's tmp dir for save_image


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip a test for a missing prerequisite, or fail it under CI, where nothing may skip."""
    if ci():
        pytest.fail(f"{reason} (CI is set, and tests never skip in CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerClient]:
    from sm_lint.image.engine import connect

    try:
        client = connect(None)
    except EnvironmentFailure as exc:
        unavailable(f"no Docker engine: {exc}")
    _save_dir.append(tmp_path_factory.mktemp("docker-save"))
    try:
        yield client
    finally:
        SESSION.cleanup(client)
        client.close()


def build_image(client: DockerClient, dockerfile: str, files: Optional[Mapping[str, FileContent]] = None,
                tag: Optional[str] = None) -> str:
    """Build `dockerfile` with the classic builder from an in-memory context holding `files` and
    `busybox`; returns the image id. Files that start with `#!` or are ELF binaries get mode 755."""
    return SESSION.build(client, dockerfile, files, tag)


def save_image(client: DockerClient, image: Union[str, Image]) -> Path:
    """`docker save` of `image` (id, tag or Image) into a file under pytest's tmp dir. Saved by
    tag when given one, so the archive records the name, as `docker save NAME` does."""
    model = client.images.get(image) if isinstance(image, str) else image
    named: Union[str, bool] = image if isinstance(image, str) and image in model.tags else False
    folder = _save_dir[-1] if _save_dir else Path(tempfile.mkdtemp(prefix="sm-lint-save-"))
    path = folder / f"{hashlib.sha256(str(image).encode()).hexdigest()[:16]}.tar"
    with path.open("wb") as out:
        for chunk in model.save(chunk_size=1 << 20, named=named):
            out.write(chunk)
    return path


@lru_cache(maxsize=None)
def static_binary(c_source: str) -> bytes:
    """A static x86-64/arm64 (host) executable compiled from `c_source` with gcc -static -Os."""
    with tempfile.TemporaryDirectory(prefix="sm-lint-cc-") as folder:
        source, binary = Path(folder, "prog.c"), Path(folder, "prog")
        source.write_text(c_source)
        try:
            done = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)],
                                  capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            unavailable("no gcc to compile static test programs (install gcc and libc6-dev)")
        if done.returncode != 0:
            if "cannot find -lc" in done.stderr:
                unavailable("gcc cannot link static programs (install libc6-dev)")
            raise BuildFailed(f"gcc failed on the test program:\n{done.stderr}")
        return binary.read_bytes()


def build_context(dockerfile: str, files: Mapping[str, FileContent]) -> io.BytesIO:
    """The build context as an in-memory tar: Dockerfile, busybox, then `files`."""
    if not BUSYBOX.is_file():
        unavailable(f"no static busybox at {BUSYBOX} (install busybox-static)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, "Dockerfile", dockerfile.encode(), 0o644)
        _add(tar, "busybox", BUSYBOX.read_bytes(), 0o755)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            _add(tar, name, data, 0o755 if data[:2] == b"#!" or data[:4] == b"\x7fELF" else 0o644)
    buffer.seek(0)
    return buffer


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0  # fixed mtime: builds hit the cache
    tar.addfile(info, io.BytesIO(data))


def _ignore_gone(action: Callable[[], object]) -> None:
    import docker.errors

    try:
        action()
    except docker.errors.NotFound:
        pass


# " ---> 1a2b3c4d5e6f" after each classic-builder step ("Running in" lines name containers).
_STEP_ID = re.compile(r"^ ---> ([0-9a-f]{12})$", re.MULTILINE)


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, so `-m docker` sees the marker
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if "docker_client" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)

