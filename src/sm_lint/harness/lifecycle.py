"""Everything the harness creates in the engine, and its guaranteed removal.

Every container and network carries the labels `sm-lint.run=<run id>`, `sm-lint.pid` and
`sm-lint.host` (the sm-lint process that made it). A `Session` removes what it made when it ends:
normally, on an exception, on Ctrl-C (SIGINT) and on SIGTERM/SIGHUP (turned into `Terminated`
so that the same unwinding runs). Only SIGKILL of sm-lint itself can leave something behind;
`sm-lint run --cleanup` (`remove_leftovers`) removes what runs whose process is gone left.
Containers are removed with their anonymous volumes (`v=True`): the image's VOLUME folders.
"""
from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from sm_lint.errors import EnvironmentFailure, Terminated
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
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> "Session":
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._previous[signum] = signal.signal(signum, _terminate)
            except ValueError:  # not the main thread: the caller owns signal handling
                break
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A second Ctrl-C or SIGTERM must not cut the removal short.
        held = _hold_signals()
        try:
            self.remove_all()
        finally:
            for signum, handler in held.items():
                signal.signal(signum, handler)
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)

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


def remove_leftovers(client: DockerClient) -> Dict[str, List[str]]:
    """Remove the containers and networks of earlier runs whose sm-lint process is gone (a run
    that is still going on, on this host, is left alone). Returns what was removed, by kind."""
    removed: Dict[str, List[str]] = {"containers": [], "networks": []}
    label = {"label": RUN_LABEL}
    for container in client.containers.list(all=True, filters=label):
        if not _owner_alive(container.labels):
            _remove(lambda: container.remove(force=True, v=True))
            removed["containers"].append(container.name)
    for network in client.networks.list(filters=label):
        if not _owner_alive(network.attrs.get("Labels") or {}):
            _remove(network.remove)
            removed["networks"].append(network.name)
    return removed


def _owner_alive(labels: Dict[str, str]) -> bool:
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False  # made elsewhere: its owner cannot be checked, so it counts as left over
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


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise Terminated(signum)


def _hold_signals() -> Dict[int, Any]:
    held = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            held[signum] = signal.signal(signum, signal.SIG_IGN)
        except ValueError:
            break
    return held


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
