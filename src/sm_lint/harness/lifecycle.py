"""Everything the harness creates in the engine, and its guaranteed removal.

Every container and network carries the labels `sm-lint.run=<run id>`, `sm-lint.pid` and
`sm-lint.host` (the sm-lint process that made it). A `Session` removes what it made when it ends:
normally, on an exception, on Ctrl-C (SIGINT) and on SIGTERM/SIGHUP (turned into `Terminated`
so that the same unwinding runs). Only SIGKILL of sm-lint itself can leave something behind;
`sm-lint run --cleanup` (`remove_leftovers`) removes what runs whose process is provably gone left:
made on this host by a process that no longer runs, or (another machine's, on a shared engine)
every container of its run stopped for STALE_AFTER seconds. Anything else of another machine only
with `--force`; a run whose process runs on this host never.
Containers are removed with their anonymous volumes (`v=True`): the image's VOLUME folders.
The serving probe's image (harness/probe.py, made with `docker import`) carries the same labels and
is removed last, after the containers made from it.
"""
from __future__ import annotations

import os
import re
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import EnvironmentFailure
from sm_lint.harness import signals
from sm_lint.image.engine import explain, host_of

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container
    from docker.models.networks import Network

RUN_LABEL = "sm-lint.run"
PID_LABEL = "sm-lint.pid"
HOST_LABEL = "sm-lint.host"
SCENARIO_LABEL = "sm-lint.scenario"


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"


class Session:
    """The containers and networks of one `sm-lint run`; a context manager that removes them."""

    def __init__(self, client: DockerClient, run_id: Optional[str] = None) -> None:
        self.client = client
        self.run_id = run_id or new_run_id()
        self.labels = {RUN_LABEL: self.run_id, PID_LABEL: str(os.getpid()), HOST_LABEL: socket.gethostname()}
        self.containers: List[Container] = []
        self.networks: List[Network] = []
        self.images: List[str] = []  # ids of images this run imported
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> "Session":
        self._previous = signals.catch_termination()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with signals.held(self._previous):  # a second Ctrl-C or SIGTERM must not cut the removal short
            self.remove_all()

    def name(self, suffix: str) -> str:
        return f"sm-lint-{self.run_id}-{suffix}"

    def create_network(self, suffix: str, internal: bool) -> Network:
        """A bridge network with a subnet of its own: the engine picks a free one, which is then
        pinned (re-created with it) so that the hosts can have fixed addresses."""
        from docker.types import IPAMConfig, IPAMPool

        name = self.name(suffix)

        def create(ipam: Any = None) -> Network:
            network = _engine_call(lambda: self.client.networks.create(
                name, driver="bridge", internal=internal, labels=dict(self.labels), check_duplicate=True, ipam=ipam),
                self.client, "create a network")
            self.networks.append(network)
            return network

        probe = create()
        probe.reload()
        subnet = ((probe.attrs.get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet")
        if not subnet:
            return probe
        self.networks.remove(probe)
        _remove(probe.remove)
        return create(IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)]))

    def create_container(self, scenario: str, suffix: str, **options: Any) -> Container:
        labels = dict(self.labels, **{SCENARIO_LABEL: scenario})
        container = self.client.containers.create(name=self.name(suffix), labels=labels, **options)
        self.containers.append(container)
        return container

    def import_image(self, rootfs_tar: bytes, repository: str, changes: List[str]) -> str:
        """An image made from `rootfs_tar` by `docker import` (no registry, no build), labelled as
        everything of this run, tagged REPOSITORY:<run id>; returns its id."""
        import json

        labels = [f"LABEL {key}={json.dumps(value)}" for key, value in self.labels.items()]
        answer = _engine_call(lambda: self.client.api.import_image_from_data(
            rootfs_tar, repository=repository, tag=self.run_id, changes=labels + changes), self.client, "import an image")
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer or "")
        try:
            image_id = str(json.loads(text.strip().splitlines()[-1]).get("status", ""))
        except (ValueError, IndexError, AttributeError):
            image_id = ""
        if not image_id.startswith("sha256:"):
            raise EnvironmentFailure(f"the engine at {host_of(self.client)} did not import the image: {answer!r:.200}")
        self.images.append(image_id)
        return image_id

    def remove_container(self, container: Container) -> None:
        _remove(lambda: container.remove(force=True, v=True))
        if container in self.containers:
            self.containers.remove(container)

    def remove_all(self) -> None:
        for container in list(self.containers):
            self.remove_container(container)
        for network in self.networks:
            _remove(network.remove)
        self.networks.clear()
        for image_id in self.images:
            _remove(lambda: self.client.images.remove(image_id, force=True))
        self.images.clear()


# A container of another machine (whose sm-lint process cannot be checked from here) counts as dead
# only when no container of its run is running, created or paused, and the last one stopped this long
# ago: a live run reads its stopped containers (exit code, logs, outputs) right after they exit.
STALE_AFTER = 600.0


class Leftover(NamedTuple):
    """A container or network that `sm-lint run --cleanup` found, and what it decided."""

    kind: str  # "container" | "network" | "image"
    id: str
    name: str
    image: str  # "" for networks
    run: str
    host: str  # sm-lint.host: the machine whose sm-lint made it
    pid: str  # sm-lint.pid on that machine
    state: str  # the container's state (running, exited, ...); "" for networks
    dead: bool  # provably dead: removed without --force
    alive: bool  # its sm-lint process runs on this host: never removed
    reason: str

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._asdict())


class Cleanup(NamedTuple):
    removed: List[Leftover]
    kept: List[Leftover]  # alive, or not provably dead without --force
    force: bool


def remove_leftovers(client: DockerClient, force: bool = False, now: Optional[float] = None) -> Cleanup:
    """Remove what runs whose sm-lint process is gone left in the engine: what is provably dead
    (made on this host by a process that no longer runs; or made elsewhere, every container of its
    run stopped for STALE_AFTER seconds), and with `force` also what cannot be checked from here
    (another machine's containers and networks). A run whose sm-lint process runs on this host is
    never touched."""
    found = find_leftovers(client, now)
    removed: List[Leftover] = []
    kept: List[Leftover] = []
    for item in found:
        if item.alive or not (item.dead or force):
            kept.append(item)
            continue
        if item.kind == "container":
            _remove(lambda: client.api.remove_container(item.id, force=True, v=True))
        elif item.kind == "image":
            _remove(lambda: client.api.remove_image(item.id, force=True))
        else:
            _remove(lambda: client.api.remove_network(item.id))
        removed.append(item)
    return Cleanup(removed, kept, force)


def find_leftovers(client: DockerClient, now: Optional[float] = None) -> List[Leftover]:
    """Every container and network labelled by the harness, containers first, each judged."""
    now = time.time() if now is None else now
    label = {"label": RUN_LABEL}
    containers = client.api.containers(all=True, filters=label)
    details = {}
    for summary in containers:
        try:
            details[summary["Id"]] = client.api.inspect_container(summary["Id"])
        except Exception:  # noqa: BLE001 - removed meanwhile
            continue
    by_run: Dict[str, List[Dict[str, Any]]] = {}
    for info in details.values():
        by_run.setdefault(((info.get("Config") or {}).get("Labels") or {}).get(RUN_LABEL, ""), []).append(info)
    found: List[Leftover] = []
    for info in details.values():
        labels = (info.get("Config") or {}).get("Labels") or {}
        state = (info.get("State") or {}).get("Status", "")
        alive, dead, reason = _judge(labels, by_run.get(labels.get(RUN_LABEL, ""), []), now)
        found.append(Leftover("container", info["Id"], str(info.get("Name", "")).lstrip("/"),
                              str((info.get("Config") or {}).get("Image", "")), labels.get(RUN_LABEL, ""),
                              labels.get(HOST_LABEL, ""), labels.get(PID_LABEL, ""), state, dead, alive, reason))
    for network in client.api.networks(filters=label):
        labels = network.get("Labels") or {}
        run = labels.get(RUN_LABEL, "")
        alive, dead, reason = _judge(labels, by_run.get(run, []), now, network.get("Created", ""))
        found.append(Leftover("network", network["Id"], network.get("Name", ""), "", run, labels.get(HOST_LABEL, ""),
                              labels.get(PID_LABEL, ""), "", dead, alive, reason))
    for image in client.api.images(filters=label):  # the serving probe's (probe.py)
        labels = image.get("Labels") or {}
        run = labels.get(RUN_LABEL, "")
        alive, dead, reason = _judge(labels, by_run.get(run, []), now, "")
        found.append(Leftover("image", image["Id"], ", ".join(image.get("RepoTags") or []), "", run,
                              labels.get(HOST_LABEL, ""), labels.get(PID_LABEL, ""), "", dead, alive, reason))
    return found


def _judge(labels: Dict[str, str], run_containers: List[Dict[str, Any]], now: float,
           created: str = "") -> Tuple[bool, bool, str]:
    """(alive, dead, reason) for a labelled object: alive when its sm-lint process runs on this
    host, dead when that is provably not so."""
    host, pid = labels.get(HOST_LABEL, ""), labels.get(PID_LABEL, "")
    if host == socket.gethostname():
        if _owner_alive(labels):
            return True, False, f"its sm-lint process {pid} on this host is running (a live run)"
        return False, True, f"its sm-lint process {pid} on this host is gone"
    owner = f"made by sm-lint process {pid or '?'} on {host or 'an unknown host'}, which cannot be checked from here"
    busy = [c for c in run_containers if (c.get("State") or {}).get("Status") not in ("exited", "dead")]
    if busy:
        return False, False, f"{owner}; its run has {len(busy)} container{'s' if len(busy) > 1 else ''} not stopped"
    ends = [_timestamp((c.get("State") or {}).get("FinishedAt", "")) for c in run_containers]
    if not run_containers:
        ends = [_timestamp(created)]
    last = max(ends) if ends and None not in ends else None
    if last is None or now - last < STALE_AFTER:
        ago = f" {now - last:.0f} s ago" if last is not None else ""
        return False, False, f"{owner}; its run's last change was{ago or ' at an unknown time'}, less than {STALE_AFTER:g} s"
    return False, True, f"{owner}; every container of its run stopped {now - last:.0f} s ago"


def _timestamp(text: str) -> Optional[float]:
    """Seconds since the epoch of the engine's RFC 3339 time (nanoseconds cut); None if unparsable."""
    import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text or "")
    if not match or text.startswith("0001-"):
        return None
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.datetime.fromisoformat(match.group(1) + zone).timestamp()


def _owner_alive(labels: Dict[str, str]) -> bool:
    """Whether the sm-lint process of these labels (made on this host) still runs."""
    try:
        pid = int(labels.get(PID_LABEL, ""))
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # this very process is asking: nothing of it is running now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(action: Callable[[], object]) -> None:
    import docker.errors
    import requests

    try:
        action()
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        if "removal of container" in str(error) and "already in progress" in str(error):
            return
        raise EnvironmentFailure(f"could not remove what the harness made: {explain(error)}") from error
    except requests.RequestException as error:
        raise EnvironmentFailure(f"the engine stopped answering while cleaning up: {error}") from error


def _engine_call(action: Callable[[], Any], client: DockerClient, what: str) -> Any:
    import docker.errors

    try:
        return action()
    except docker.errors.APIError as error:
        raise EnvironmentFailure(f"the engine at {host_of(client)} refused to {what}: {explain(error)}") from error
