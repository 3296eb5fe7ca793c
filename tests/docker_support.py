"""pytest plugin: a real Docker engine for the Docker-marked tests, and FROM-scratch test images.

No registry is reachable here, so every test image is built FROM scratch with the classic builder
from an in-memory context: Debian's static busybox (always in the context as `busybox`) and tiny
static C programs (`static_binary`). Everything built carries the label `sm-lint-test=<session>`
and is removed, with any container made from it, when the session ends.

Without an engine the tests that use `docker_client` skip, except when CI is set: then they fail,
because tests never skip in CI (scripts/test.sh provisions the engine there).

GPUs: tests/gpu_double holds a test double of NVIDIA's container hook that fakes a GPU host's driver
(its docstring is the contract). It only ever goes into throwaway engines that this session starts
and stops: `gpu_engine` is a second dockerd with the double on its PATH (the fake GPU host) and
`gpu_client` a client of it; `engine_without_gpus` is another without it (the "no NVIDIA toolkit"
host). The main test engine (scripts/test.sh) never has the double, so no `--gpus` container on this
machine sees a fake GPU once the session is over. `copy_image` moves a test image into a throwaway
engine. `tcp_loopback` gives an engine's unix socket a tcp:// address.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Mapping, NoReturn, Optional, Set, Union

import pytest

from sm_lint.errors import EnvironmentFailure

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.images import Image
    from docker.types import DeviceRequest

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
        if {"docker_client", "engine_without_gpus", "gpu_engine", "gpu_client"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


# GPUs: the test double of NVIDIA's hook ---------------------------------------------------------

GPU_DOUBLE_DIR = Path(__file__).resolve().parent / "gpu_double"
GPU_HOOK_NAME = "nvidia-container-runtime-hook"
# What dockerd answers to a gpu device request when no hook was on its PATH at start.
NO_GPU_DRIVER = "could not select device driver"
# The double's GPUs have UUIDs with this prefix (tests/gpu_double/nvidia-container-runtime-hook).
FAKE_GPU_UUID = "GPU-5a1e0000-0000-4000-8000-"
_GPU_PROBE_IMAGE = 'FROM scratch\nCOPY busybox /busybox\nCMD ["/busybox", "true"]\n'
_gpu_capable: Dict[str, bool] = {}  # engine (data root) -> answer, probed once per session


def gpu_request(**options: object) -> DeviceRequest:
    """The device request of `docker run --gpus all` (count=-1, capabilities [["gpu"]]); pass
    count=... or device_ids=[...] to ask for fewer."""
    from docker.types import DeviceRequest

    fields: Dict[str, object] = {"count": -1, "capabilities": [["gpu"]]}
    fields.update(options)
    if "device_ids" in options:
        fields.pop("count")
    return DeviceRequest(**fields)


def gpu_capable(client: DockerClient) -> bool:
    """Whether the engine serves a `--gpus all` request: creates and starts a tiny labelled
    container with it, once per engine and session. Only dockerd's own `could not select device
    driver` answer means no; any other failure (a broken double, say) is raised."""
    key = str(client.info().get("DockerRootDir"))  # one per engine; unix socket URLs all read http+docker://localhost
    if key not in _gpu_capable:
        _gpu_capable[key] = _probe_gpus(client)
    return _gpu_capable[key]


def _probe_gpus(client: DockerClient) -> bool:
    return _gpu_probe(client) is not None


def _gpu_probe(client: DockerClient, command: Optional[List[str]] = None) -> Optional[str]:
    """Run the probe image with `--gpus all`: its logs, or None when the engine has no GPU driver."""
    import docker.errors

    image_id = build_image(client, _GPU_PROBE_IMAGE)
    container = client.containers.create(image_id, command, device_requests=[gpu_request()], network_mode="none",
                                         labels={LABEL_KEY: SESSION_ID})
    try:
        try:
            container.start()
        except docker.errors.APIError as exc:
            if NO_GPU_DRIVER in str(exc):
                return None
            raise
        container.wait(timeout=120)
        return container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    finally:
        _ignore_gone(lambda: container.remove(force=True))


@pytest.fixture(scope="session")
def gpu_engine() -> Iterator[str]:
    """A throwaway dockerd with tests/gpu_double on its PATH: a GPU host with a fake driver (the
    double's docstring). Yields its `unix://` address; stopped and deleted at session end, so the
    fake GPU never outlives the session. Set up like `engine_without_gpus` (its own folder,
    containerd namespaces and network namespace). Needs root."""
    with throwaway_engine("smgg-", with_double=True) as address:
        yield address


@pytest.fixture(scope="session")
def gpu_client(gpu_engine: str) -> Iterator[DockerClient]:
    """A client of `gpu_engine`, checked to serve a `--gpus all` request (with the double's fake
    GPUs). Images are built in it with `build_image`, or moved in with `copy_image`."""
    import docker

    client = docker.DockerClient(base_url=gpu_engine, timeout=120)
    try:
        if not gpu_capable(client):
            pytest.fail(f"the GPU test engine at {gpu_engine} refuses --gpus: the double did not register",
                        pytrace=False)
        yield client
    finally:
        client.close()


def fakes_gpus(client: DockerClient) -> bool:
    """Whether the engine runs tests/gpu_double: a `--gpus all` container sees its fake GPUs (the
    double's UUID prefix). False for an engine without GPU support and for a real GPU host."""
    return FAKE_GPU_UUID in (_gpu_probe(client, ["/busybox", "sh", "-c", "/usr/bin/nvidia-smi -L"]) or "")


# A second engine, without GPU support ------------------------------------------------------------

@pytest.fixture(scope="session")
def engine_without_gpus() -> Iterator[str]:
    """A second, throwaway dockerd whose PATH holds no nvidia-container-runtime-hook: the host
    without NVIDIA's toolkit. Yields its `unix://` address; stopped and deleted at session end."""
    with throwaway_engine("smlg-", with_double=False) as address:
        yield address


@contextmanager
def throwaway_engine(prefix: str, with_double: bool) -> Iterator[str]:
    """A dockerd of its own, with or without tests/gpu_double on its PATH; yields its address.

    Its own --data-root, --exec-root, --pidfile, socket and managed containerd, all in one short
    folder under /tmp (unix socket paths are limited to 107 bytes), and its own containerd
    namespaces. It runs in its own network namespace (`unshare --net`): a dockerd started with
    --bridge=none deletes the host's `docker0` interface at start, which would break the test
    engine's networking. So its containers have no network: create them with network_mode="none"
    or leave the default (bridge is off). Needs root."""
    if os.geteuid() != 0:
        unavailable("a throwaway Docker engine (engine_without_gpus, gpu_engine) needs root")
    dockerd, unshare = shutil.which("dockerd"), shutil.which("unshare")
    if not dockerd or not unshare:
        unavailable("a throwaway Docker engine needs dockerd (docker.io) and unshare (util-linux)")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    address = f"unix://{folder}/docker.sock"
    parts = [part for part in os.environ.get("PATH", "").split(os.pathsep)
             if part and not Path(part, GPU_HOOK_NAME).exists()]
    if with_double:
        parts.insert(0, str(GPU_DOUBLE_DIR))
    namespace = prefix.strip("-") + uuid.uuid4().hex[:8]  # containerd: letters, digits, . _ - between
    command = [unshare, "--net", dockerd, "--data-root", f"{folder}/data", "--exec-root", f"{folder}/exec",
               "--pidfile", f"{folder}/docker.pid", "-H", address, "--bridge=none", "--iptables=false",
               "--ip-masq=false", "--containerd-namespace", namespace,
               "--containerd-plugins-namespace", f"{namespace}-plugins"]
    log_path = folder / "dockerd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PATH=os.pathsep.join(parts)), start_new_session=True)
    try:
        _wait_for_engine(address, process, log_path)
        yield address
    finally:
        _stop_engine(process, folder)
        _remove_engine_folder(folder)


def copy_image(src_client: DockerClient, image_id: str, dst_client: DockerClient) -> str:
    """Streams `docker save` of `image_id` from one engine into `docker load` of another; returns
    the id in the destination (the same id: the config digest travels with it)."""
    archive = src_client.images.get(image_id).save(chunk_size=1 << 20)
    loaded = dst_client.images.load(archive)  # a generator body: sent chunked, never held whole
    if len(loaded) != 1:
        raise RuntimeError(f"loading {image_id} gave {[image.id for image in loaded]}")
    return str(loaded[0].id)


def _wait_for_engine(address: str, process: subprocess.Popen, log_path: Path) -> None:
    import docker
    import docker.errors
    import requests

    deadline = time.monotonic() + float(os.environ.get("SM_LINT_DOCKERD_WAIT", "60"))
    while True:
        if process.poll() is not None:
            pytest.fail(f"the second dockerd exited with {process.returncode}:\n{_tail(log_path)}", pytrace=False)
        try:
            client = docker.DockerClient(base_url=address, timeout=5)
            try:
                client.ping()
                return
            finally:
                client.close()
        except (docker.errors.DockerException, requests.RequestException, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the second dockerd did not answer at {address}:\n{_tail(log_path)}", pytrace=False)
        time.sleep(0.25)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def _stop_engine(process: subprocess.Popen, folder: Path) -> None:
    """SIGTERM (dockerd stops its containers and its managed containerd), SIGKILL after 60 s;
    after a SIGKILL, also the containerd and shims that name this engine's folder."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
            return
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid in _pids_naming(str(folder)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pids_naming(text: str) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _remove_engine_folder(folder: Path) -> None:
    """Unmounts what the engine left mounted under `folder` (deepest first), then deletes it;
    never deletes through a mount that would not go."""
    prefix = f"{folder}/"

    def mounts() -> List[str]:
        with open("/proc/self/mountinfo", encoding="utf-8") as info:
            points = [line.split()[4].replace("\\040", " ") for line in info]
        return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)

    for point in mounts():
        subprocess.run(["umount", "-l", point], capture_output=True)
    left = mounts()
    if left:
        warnings.warn(f"the second dockerd left mounts under {folder}, so it stays: {left}")
        return
    shutil.rmtree(folder, ignore_errors=True)


# A tcp:// address for an engine's unix socket ------------------------------------------------------

@contextmanager
def tcp_loopback(unix_socket_path: str) -> Iterator[str]:
    """A loopback TCP port that forwards every connection, byte for byte, to `unix_socket_path`
    (an engine's socket): yields its `tcp://127.0.0.1:PORT` address, so the SDK's tcp://
    transport meets the real engine without a second dockerd. Closed on exit."""

    def upstream() -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(unix_socket_path)
        return connection

    relay = _Relay(upstream)
    try:
        yield relay.address
    finally:
        relay.close()


class _Relay:
    def __init__(self, upstream: Callable[[], socket.socket]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = "tcp://127.0.0.1:%d" % self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            try:
                upstream = self.upstream()
            except OSError:  # the engine went away: this connection fails, the next may not
                client.close()
                continue
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self) -> None:
        self.server.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(1 << 16)
            if not data:
                break
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass

