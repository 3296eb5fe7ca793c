"""One job run in the engine: the containers of a JobPlan (one per host), their data, start, wait,
logs, exit message and outputs. Scenarios (completion.py, stop.py) drive it; a Session owns the
containers and removes them.

The containers are made as Processing makes them (`docker run [--entrypoint E] IMAGE [ARGS]`):
the engine's own ENTRYPOINT/CMD merge does the resolution of contract.py, because a given
entrypoint with no arguments leaves Cmd empty, which Docker does not fill from the image. No
privileged mode, no host mounts, no host network; no network at all under network isolation.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import EnvironmentFailure
from sm_lint.harness import payload
from sm_lint.harness.lifecycle import Session
from sm_lint.harness.plan import OUTPUT_MESSAGE, JobPlan, share
from sm_lint.image.engine import explain

if TYPE_CHECKING:
    from docker.models.containers import Container

NO_GPU_DRIVER = "could not select device driver"


class Limits(NamedTuple):
    cpus: Optional[float] = None
    memory: Optional[int] = None  # bytes; None: no limit
    pids: Optional[int] = None  # the most processes (and threads) at once; None: no limit


class StartFailure(NamedTuple):
    host: str
    message: str  # the engine's explanation, one line


class Exit(NamedTuple):
    code: int
    seconds: float  # from start to the exit seen
    oom_killed: bool


class Job:
    def __init__(self, session: Session, plan: JobPlan, scenario: str, limits: Limits = Limits(),
                 gpus: bool = False, gpu_fallback: bool = True, networked: bool = False) -> None:
        self.session = session
        # A private network even for one host: a serving container is reached over it (probe.py).
        self.networked = networked
        self.gpu_fallback = gpu_fallback
        self.plan = plan
        self.scenario = scenario
        self.limits = limits
        self.gpus = gpus
        self.containers: Dict[str, Container] = {}
        self.network: Any = None
        self.started_at = 0.0
        self.exits: Dict[str, Exit] = {}
        self.notes: List[str] = []
        self.addresses: Dict[str, str] = {}  # host -> its fixed address on the private network

    # -- making and starting ---------------------------------------------------------------

    def create(self) -> Optional[StartFailure]:
        """Create every host's container and put its files in; a refusal (for example "No command
        specified") is the job failing to start, returned rather than raised."""
        import docker.errors

        network, addresses = None, {}
        if len(self.plan.hosts) > 1 or self.networked:
            if self.network is None:  # kept when the containers are made again (without GPUs)
                self.network = self.session.create_network(f"{self.scenario}-net", internal=self.plan.network_isolation)
            network = self.network
            addresses = host_addresses(network, self.plan.hosts)
            self.addresses = addresses
        for host in self.plan.hosts:
            try:
                container = self.session.create_container(
                    self.scenario, f"{self.scenario}-{host}", **self._options(host, network, addresses))
            except docker.errors.ImageNotFound as error:
                raise EnvironmentFailure(f"image {self.plan.image} disappeared from the engine: {explain(error)}") from error
            except docker.errors.APIError as error:
                return StartFailure(host, explain(error))
            self.containers[host] = container
            archive = self._archive(host)
            try:
                container.put_archive("/", archive)
            except docker.errors.APIError as error:
                return StartFailure(host, f"could not copy the job's files in: {explain(error)}")
            finally:
                archive.close()
        return None

    def launch(self) -> Optional[StartFailure]:
        """Create, fill and start every host's container; the first refusal, or None."""
        return self.create() or self.start()

    def start(self) -> Optional[StartFailure]:
        import docker.errors

        self.started_at = time.monotonic()
        for host, container in self.containers.items():
            try:
                container.start()
            except docker.errors.APIError as error:
                if self.gpus and self.gpu_fallback and NO_GPU_DRIVER in str(error):
                    return self._without_gpus(explain(error))
                return StartFailure(host, explain(error))
        return None

    def _without_gpus(self, reason: str) -> Optional[StartFailure]:
        """A GPU instance type on an engine without an NVIDIA runtime: run the scenario without
        GPUs rather than not at all, and say so."""
        for container in self.containers.values():
            self.session.remove_container(container)
        self.containers.clear()
        self.gpus = False
        self.notes.append(f"GPUs requested for {self.plan.instance_type}, but this engine cannot provide them "
                          f"({reason}); the {self.scenario} scenario ran without GPUs")
        return self.launch()

    def _options(self, host: str, network: Any, addresses: Dict[str, str]) -> Dict[str, Any]:
        options: Dict[str, Any] = dict(
            image=self.plan.image, entrypoint=self.plan.entrypoint, command=self.plan.arguments,
            environment=self.plan.environment, hostname=host, privileged=False)
        if network is not None:
            client = self.session.client
            options["network"] = network.name
            endpoint = client.api.create_endpoint_config(aliases=[host], ipv4_address=addresses.get(host))
            options["networking_config"] = {network.name: endpoint}
            if addresses:
                # Every host knows every other by name from the start, before the others have started
                # (the engine's DNS learns a name only when its container starts).
                options["extra_hosts"] = {name: address for name, address in addresses.items() if name != host}
        elif self.plan.network_isolation:
            options["network_mode"] = "none"
        if self.limits.cpus:
            options["nano_cpus"] = int(self.limits.cpus * 1e9)
        if self.limits.memory:
            options["mem_limit"] = self.limits.memory
        if self.limits.pids:
            options["pids_limit"] = self.limits.pids
        if self.gpus:
            from docker.types import DeviceRequest

            options["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return options

    def _archive(self, host: str) -> Any:
        """Config files, inputs (a host's share when sharded), empty output folders, /opt/ml/output."""
        builder = payload.ArchiveBuilder()
        for path, data in self.plan.host_files(host).items():
            builder.file_bytes(path, data)
        for item in self.plan.inputs:
            if item.local_dir is None:
                builder.directory(item.container_path)
                continue
            if not Path(item.local_dir).is_dir():  # a model.tar.gz: unpacked as the platform does
                builder.tarball(item.local_dir, item.container_path)
                continue
            only = None
            if item.sharded and len(self.plan.hosts) > 1:
                only = share(payload.list_files(Path(item.local_dir)), host, self.plan.hosts)
            builder.tree(item.local_dir, item.container_path, only)
        for item in self.plan.outputs:
            builder.directory(item.container_path, payload.WRITABLE_DIR)
        builder.directory("/opt/ml/output", payload.WRITABLE_DIR)
        return builder.finish()

    # -- watching ---------------------------------------------------------------------------

    def running(self) -> List[str]:
        return [host for host in self.containers if host not in self.exits]

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for every container to exit; True when all have."""
        import requests

        deadline = time.monotonic() + seconds
        for host in self.running():
            container = self.containers[host]
            remaining = deadline - time.monotonic()
            if remaining <= 0 and host not in self.exits:
                remaining = 0.05  # one quick look: it may have exited meanwhile
            try:
                result = container.wait(timeout=remaining)
            except requests.RequestException:
                continue
            self._record_exit(host, int(result.get("StatusCode", -1)))
        return not self.running()

    def poll(self) -> bool:
        """Record the containers that have exited, without waiting (a cheap inspect, where a
        `wait` with a short timeout would hold a request open); True when all have."""
        for host in self.running():
            container = self.containers[host]
            container.reload()
            state = container.attrs.get("State", {})
            if state.get("Status") in ("exited", "dead"):
                self._record_exit(host, int(state.get("ExitCode", -1)))
        return not self.running()

    def _record_exit(self, host: str, code: int) -> None:
        seen = time.monotonic() - self.started_at
        container = self.containers[host]
        container.reload()
        state = container.attrs.get("State", {})
        self.exits[host] = Exit(code, seen, bool(state.get("OOMKilled")))

    def signal(self, name: str) -> None:
        import docker.errors

        for host in self.running():
            try:
                self.containers[host].kill(signal=name)
            except docker.errors.APIError as error:
                if "is not running" not in str(error):
                    raise EnvironmentFailure(f"the engine refused to signal {host}: {explain(error)}") from error

    # -- after the fact ---------------------------------------------------------------------

    def log_tail(self, host: str, lines: int = 20) -> List[str]:
        raw = self.containers[host].logs(stdout=True, stderr=True, tail=lines)
        return raw.decode("utf-8", "replace").splitlines()[-lines:]

    def exit_message(self, host: str) -> Optional[bytes]:
        """The bytes of /opt/ml/output/message, or None when the container wrote none."""
        import docker.errors

        try:
            chunks, _ = self.containers[host].get_archive(OUTPUT_MESSAGE)
        except docker.errors.NotFound:
            return None
        return payload.read_single_file(chunks)

    def read_file(self, host: str, path: str, limit: int = payload.MESSAGE_READ_LIMIT) -> Optional[bytes]:
        """The first `limit` bytes of a file in a host's container, or None when there is none."""
        import docker.errors

        try:
            chunks, _ = self.containers[host].get_archive(path)
        except docker.errors.NotFound:
            return None
        return payload.read_single_file(chunks, limit)

    def count_files(self, host: str, path: str) -> int:
        """How many files (and links) are under `path` in a host's container (0 when it is gone)."""
        import docker.errors

        try:
            chunks, _ = self.containers[host].get_archive(path)
        except docker.errors.NotFound:
            return 0
        return payload.count_files(chunks)

    def address(self, host: str) -> Optional[str]:
        """The host's IPv4 address on the job's private network (None without one)."""
        if self.network is None:
            return None
        if host in self.addresses:  # known even after the container has exited
            return self.addresses[host]
        container = self.containers[host]
        container.reload()
        networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        return (networks.get(self.network.name) or {}).get("IPAddress") or None

    def collect_outputs(self) -> List[Tuple[str, str, int, List[str]]]:
        """Copy each output folder of each host into its local folder (all hosts into the same
        one, as they would upload to one S3 prefix): (output name, host, files, refused)."""
        import docker.errors

        collected = []
        for item in self.plan.outputs:
            if item.local_dir is None:
                continue
            for host, container in self.containers.items():
                try:
                    chunks, _ = container.get_archive(item.container_path)
                except docker.errors.NotFound:
                    collected.append((item.name, host, 0, [f"{item.container_path}: missing in the container"]))
                    continue
                written, refused = payload.extract_into(chunks, Path(item.local_dir))
                collected.append((item.name, host, written, refused))
        return collected

    def pid1(self, host: str) -> Tuple[Optional[str], List[str]]:
        """PID 1's command line and those of its children, from the engine's `top` (no tool in the
        image needed)."""
        try:
            top = self.containers[host].top(ps_args="-o pid,ppid,args")
        except Exception:  # noqa: BLE001 - a container that just exited has no processes
            return None, []
        titles = [t.upper() for t in top.get("Titles", [])]
        rows = top.get("Processes") or []
        try:
            pid_i, ppid_i, cmd_i = titles.index("PID"), titles.index("PPID"), titles.index("COMMAND")
        except ValueError:
            return None, []
        host_pid = str(self.containers[host].attrs.get("State", {}).get("Pid", ""))
        root = next((row for row in rows if row[pid_i] == host_pid), rows[0] if rows else None)
        if root is None:
            return None, []
        children = [row[cmd_i] for row in rows if row[ppid_i] == root[pid_i]]
        return root[cmd_i], children


def host_addresses(network: Any, hosts: Tuple[str, ...]) -> Dict[str, str]:
    """algo-1 -> the subnet's second address, algo-2 -> the third, ... (the first is the gateway)."""
    import ipaddress

    subnet = ((network.attrs.get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet")
    if not subnet:
        return {}
    pool = ipaddress.ip_network(subnet).hosts()
    next(pool)  # the gateway
    return {host: str(next(pool)) for host in hosts}
