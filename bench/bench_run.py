#!/usr/bin/env python3
"""Benchmark `sm-lint run` against a plain `docker run --rm` of the same image.

    python bench/bench_run.py [--repeat 5] [--json PATH] [--files 100] [--mib 50]
                              [--exit-delay-ms 200] [--stop-after 1] [--no-trace]

Needs a Docker engine (DOCKER_HOST or the local socket; the docker CLI must reach the same one),
Debian's static busybox at /bin/busybox and gcc able to link static programs (libc6-dev).

Steps:
1. Build FROM-scratch images, labelled `sm-lint-bench=<session>` (removed at the end, also on
   Ctrl-C or SIGTERM): `true` (/bin/busybox true), `sleep` (/bin/busybox sleep 1), `copy` (copies
   its input folder to its output folder) and `stop` (a static C program that prints "ready",
   and on SIGINT waits --exit-delay-ms, then exits 0).
2. Start-up costs, each a fresh process: `python -c pass`, `python -c "import sm_lint.cli"`,
   `sm-lint --version`, `import docker` with and without paramiko (which the docker SDK imports
   whenever it is installed), and loading botocore's SageMaker service model (what request
   validation reads to check the instance type) when botocore is installed.
3. Completion: `sm-lint run IMAGE` (the console script, text report to /dev/null) against
   `docker run --rm IMAGE` (the docker CLI) and against the SDK's create+start+wait+remove from this
   warm interpreter; for `true` and `sleep`. Then with data: an input folder of --files files
   (--mib MiB in all, seeded random bytes) that the job copies to an output folder, through
   `sm-lint run --job-input ... --job-output ...` (the engine's archive API: put_archive, get_archive)
   against `docker run --rm -v IN:...:ro -v OUT:...` (bind mounts). The collected output is checked.
4. Stop: `sm-lint run IMAGE --scenario stop --ready-log '^ready$' --grace 10` against the docker
   CLI doing the same by hand (`docker run --rm`, read stdout until "ready", `docker kill --signal
   INT`, wait) and against the lower bound: the time until "ready" appears (as the docker CLI
   sees it) plus the program's own exit delay. Also `--stop-after S` (bound: ready + S + delay).
5. Unless --no-trace: the same `sm-lint run` commands again (true, the data case, stop with
   --ready-log), in a fresh interpreter that records timestamps of the imports, request validation,
   connecting, building and extracting archives, and every HTTP request to the engine (a wrapper
   around `sm_lint.__main__.main`), to say what the overhead is made of; and what-ifs for `true`:
   paramiko made unimportable, botocore made unimportable (request validation then skips the
   instance-type check, as without botocore), gc.freeze() before exit, and all three, to show what
   those imports and the final garbage collection cost.

Each case gets one untimed warm-up, then --repeat runs; the cases of one scenario are interleaved
(one of each per round), so that load from others on the machine hits them alike. Best and
median are reported. Prints Markdown tables; --json PATH writes every raw number.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from bench import machine_info, scripts_dir_executable  # noqa: E402  (a sibling script)

LABEL_KEY = "sm-lint-bench"
WHAT_IF = "completion, true; what-if: "
BUSYBOX = Path("/bin/busybox")
INPUT_PATH = "/opt/ml/processing/input/data"
OUTPUT_PATH = "/opt/ml/processing/output/out"

STOP_C = r"""
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void on_signal(int signum) { stop = signum; }
int main(void) {
    struct sigaction action = {0};
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    puts("ready"); fflush(stdout);
    while (!stop) pause();
    struct timespec delay = {EXIT_DELAY_MS / 1000, (EXIT_DELAY_MS % 1000) * 1000000L};
    nanosleep(&delay, NULL);
    puts("stopped"); fflush(stdout);
    return 0;
}
"""


class BenchError(Exception):
    """A prerequisite is missing or a run went wrong: one line for the user, no traceback."""


# -- images -------------------------------------------------------------------------------------

class Engine:
    """The engine's client and everything this bench built in it (labelled, removed by cleanup)."""

    def __init__(self) -> None:
        try:
            from sm_lint.errors import EnvironmentFailure
            from sm_lint.image.engine import connect, host_of
        except ImportError as error:
            raise BenchError(f"sm_lint is not importable ({error}): run with the project's venv, "
                             ".venv/bin/python bench/bench_run.py") from None
        try:
            self.client = connect(None)
        except EnvironmentFailure as error:
            raise BenchError(f"no Docker engine answers: {error} (start dockerd, or set DOCKER_HOST)") from None
        self.host = host_of(self.client)
        self.session = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.label = f"{LABEL_KEY}={self.session}"

    def build(self, dockerfile: str, files: Optional[Dict[str, bytes]] = None) -> str:
        context = build_context(dockerfile, files or {})
        image_id, log = "", []
        # nocache: every intermediate image is this build's own, so removing the image removes them.
        for entry in self.client.api.build(fileobj=context, custom_context=True, rm=True, forcerm=True, pull=False,
                                           nocache=True, labels={LABEL_KEY: self.session}, decode=True):
            log.append(str(entry.get("stream") or entry.get("error") or ""))
            image_id = (entry.get("aux") or {}).get("ID", image_id)
            if "error" in entry:
                raise BenchError("image build failed:\n" + "".join(log).strip())
        if not image_id:
            raise BenchError("image build reported no id:\n" + "".join(log).strip())
        return str(image_id)

    def cleanup(self) -> None:
        import docker.errors

        # Containers inherit the image's label: the docker CLI runs and anything left by an interrupted run.
        for container in self.client.containers.list(all=True, filters={"label": self.label}):
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        for image in self.client.images.list(all=True, filters={"label": self.label}):
            try:
                self.client.images.remove(image.id, force=True)
            except docker.errors.NotFound:
                pass
        self.client.close()


def build_context(dockerfile: str, files: Dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in [("Dockerfile", dockerfile.encode()), ("busybox", BUSYBOX.read_bytes())] + list(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if data[:4] == b"\x7fELF" else 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def static_binary(c_source: str, defines: Sequence[str] = ()) -> bytes:
    with tempfile.TemporaryDirectory(prefix="sm-lint-bench-cc-") as folder:
        source, binary = Path(folder, "prog.c"), Path(folder, "prog")
        source.write_text(c_source)
        try:
            done = subprocess.run(["gcc", "-static", "-Os", "-s", *(f"-D{d}" for d in defines), "-o", str(binary),
                                   str(source)], capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise BenchError("no gcc to compile the stop scenario's program (install gcc and libc6-dev)") from None
        if done.returncode != 0:
            raise BenchError(f"gcc -static failed (libc6-dev missing?):\n{done.stderr.strip()}")
        return binary.read_bytes()


class Images(NamedTuple):
    true: str
    sleep: str
    copy: str
    stop: str


def build_images(engine: Engine, exit_delay_ms: int) -> Images:
    if not BUSYBOX.is_file():
        raise BenchError(f"no static busybox at {BUSYBOX} (install busybox-static)")
    stop_program = static_binary(STOP_C, [f"EXIT_DELAY_MS={exit_delay_ms}"])
    base = "FROM scratch\nCOPY busybox /bin/busybox\n"
    copy = f"/bin/busybox cp -r {INPUT_PATH}/. {OUTPUT_PATH}/"
    return Images(
        true=engine.build(base + 'ENTRYPOINT ["/bin/busybox", "true"]\n'),
        sleep=engine.build(base + 'ENTRYPOINT ["/bin/busybox", "sleep", "1"]\n'),
        copy=engine.build(base + f'ENTRYPOINT ["/bin/busybox", "sh", "-c", "{copy}"]\n'),
        stop=engine.build('FROM scratch\nCOPY stop /stop\nENTRYPOINT ["/stop"]\n', {"stop": stop_program}),
    )


# -- timing ---------------------------------------------------------------------------------------

def run_timed(argv: Sequence[str], ok: Sequence[int] = (0,), stdout: Any = subprocess.DEVNULL,
              env: Optional[Dict[str, str]] = None) -> float:
    """Wall seconds of one fresh process; BenchError when it exits with a code not in `ok`."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        code = subprocess.call(list(argv), stdout=stdout, stderr=err, env=env)
        wall = time.perf_counter() - start
        if code not in ok:
            err.seek(0)
            raise BenchError(f"`{' '.join(argv)}` exited {code}:\n{err.read().decode(errors='replace')[-2000:]}")
    return wall


def summary(values: Sequence[float]) -> Dict[str, Any]:
    return {"best_s": round(min(values), 4), "median_s": round(statistics.median(values), 4),
            "all_s": [round(v, 4) for v in values]}


def interleaved(cases: Dict[str, Callable[[], Any]], repeat: int, prepare: Optional[Callable[[], None]] = None,
                what: str = "") -> Dict[str, List[Any]]:
    """Each case once per round, one untimed warm-up round first; returns each case's results."""
    results: Dict[str, List[Any]] = {name: [] for name in cases}
    for round_ in range(repeat + 1):
        print(f"bench_run: {what} round {round_ or 'warm-up'}/{repeat}", file=sys.stderr)
        for name, case in cases.items():
            if prepare:
                prepare()
            value = case()
            if round_:
                results[name].append(value)
    return results


def sdk_completion(client: Any, image: str, label: Dict[str, str]) -> float:
    start = time.perf_counter()
    container = client.containers.create(image, labels=label)
    container.start()
    code = container.wait()["StatusCode"]
    container.remove(v=True)
    wall = time.perf_counter() - start
    if code != 0:
        raise BenchError(f"SDK run of {image} exited {code}")
    return wall


class StopRun(NamedTuple):
    total_s: float
    ready_s: float  # from the start of the command until "ready" was read
    ready_after_start_s: Optional[float] = None  # from start() returning until "ready" was read
    exited_after_kill_s: Optional[float] = None  # from sending SIGINT until wait() returned


def cli_stop(image: str, name: str) -> StopRun:
    """What a person would do with the docker CLI: run, wait for "ready", docker kill -s INT, wait."""
    start = time.perf_counter()
    process = subprocess.Popen(["docker", "run", "--rm", "--name", name, image], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    ready = None
    for line in process.stdout:
        if line.strip() == b"ready":
            ready = time.perf_counter() - start
            break
    if ready is None:
        process.wait()
        raise BenchError(f"docker run {image}: no 'ready' line (exit {process.returncode})")
    subprocess.call(["docker", "kill", "--signal", "INT", name], stdout=subprocess.DEVNULL)
    process.stdout.read()
    code = process.wait()
    total = time.perf_counter() - start
    if code != 0:
        raise BenchError(f"docker run {image} exited {code} after SIGINT")
    return StopRun(total, ready)


def sdk_stop(client: Any, image: str, label: Dict[str, str]) -> StopRun:
    start = time.perf_counter()
    container = client.containers.create(image, labels=label)
    container.start()
    started = time.perf_counter()
    ready = None
    pending = b""
    for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
        pending += chunk
        if b"ready\n" in pending:
            ready = time.perf_counter() - start
            break
    if ready is None:
        raise BenchError(f"SDK run of {image}: no 'ready' line")
    killed = time.perf_counter()
    container.kill(signal="SIGINT")
    code = container.wait()["StatusCode"]
    exited = time.perf_counter()
    container.remove(v=True)
    total = time.perf_counter() - start
    if code != 0:
        raise BenchError(f"SDK run of {image} exited {code} after SIGINT")
    return StopRun(total, ready, start + ready - started, exited - killed)


# -- data -----------------------------------------------------------------------------------------

def make_input(folder: Path, files: int, mib: int, seed: int) -> int:
    """`files` files of seeded random bytes, `mib` MiB in all, in a few subfolders; returns bytes."""
    rng = random.Random(seed)
    size = (mib << 20) // files
    for index in range(files):
        path = folder / f"part{index % 4}" / f"file{index:04d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    return size * files


def tree_size(folder: Path) -> Tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def reset(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


# -- in-process breakdown --------------------------------------------------------------------------

# Runs `sm-lint ARGS` as the console script does, in a fresh interpreter, and writes to $SM_LINT_BENCH_TRACE
# when it started (wall clock) and (label, start, end) of: importing the CLI, request validation's
# botocore model, connect (importing the docker SDK and asking the engine's version), building the input
# archive, extracting the outputs (its HTTP request ends at the headers: the body streams during extraction)
# and each HTTP request.
# $SM_LINT_BENCH_HIDE names modules to make unimportable (what-if: paramiko, botocore not installed);
# $SM_LINT_BENCH_FREEZE calls gc.freeze() after main (what-if: no full collection at interpreter exit).
TRACER = r'''
import json, os, sys, time
STARTED = time.time()
T0 = time.perf_counter()
events = []
for hidden in filter(None, os.environ.get("SM_LINT_BENCH_HIDE", "").split(",")):
    sys.modules[hidden] = None  # `import hidden` raises ImportError, as if it were not installed
def note(label, start):
    events.append((label, start - T0, time.perf_counter() - T0))
start = time.perf_counter()
import sm_lint.cli
note("import sm_lint.cli", start)
try:
    import sm_lint.image.engine as engine
    original_connect = engine.connect
    def connect(*args, **kwargs):
        start = time.perf_counter()
        import requests.sessions
        send = requests.sessions.Session.send
        def timed_send(self, request, **options):
            begun = time.perf_counter()
            try:
                return send(self, request, **options)
            finally:
                note("HTTP " + request.method + " " + request.path_url.split("?")[0], begun)
        requests.sessions.Session.send = timed_send
        try:
            return original_connect(*args, **kwargs)
        finally:
            note("connect", start)
    engine.connect = connect
except (ImportError, AttributeError):
    pass
try:
    import sm_lint.harness.jobspec as jobspec
    original_types = jobspec._instance_types
    def instance_types():
        start = time.perf_counter()
        try:
            return original_types()
        finally:
            note("request validation: botocore instance types", start)
    jobspec._instance_types = instance_types
except (ImportError, AttributeError):
    pass
def wrap(owner, name, label):
    original = getattr(owner, name)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            note(label, start)
    setattr(owner, name, timed)
try:
    import sm_lint.harness.job as job
    import sm_lint.harness.payload as payload
    wrap(job.Job, "_archive", "tar: build the archive to put in (payload.ArchiveBuilder)")
    wrap(payload, "extract_into", "tar: stream outputs out and extract them (payload.extract_into)")
except (ImportError, AttributeError):
    pass
sys.argv = ["sm-lint"] + sys.argv[1:]
code = 0
try:
    from sm_lint.__main__ import main
    main()
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
note("main", T0)
if os.environ.get("SM_LINT_BENCH_FREEZE"):
    import gc
    gc.freeze()  # what-if: the final collection at exit no longer walks every object
with open(os.environ["SM_LINT_BENCH_TRACE"], "w") as out:
    json.dump({"started": STARTED, "events": events, "code": code}, out)
sys.exit(code)
'''

REQUEST_KINDS = (  # (method, path pattern, name) in order; the first match wins
    ("GET", r"/version$", "GET /version"),
    ("GET", r"/images/.+/json$", "image lookup"),
    ("POST", r"/containers/create$", "container create"),
    ("PUT", r"/containers/[^/]+/archive$", "put_archive (inputs, config files)"),
    ("GET", r"/containers/[^/]+/archive$", "get_archive (exit message, outputs)"),
    ("POST", r"/containers/[^/]+/start$", "container start"),
    ("POST", r"/containers/[^/]+/wait$", "wait"),
    ("GET", r"/containers/[^/]+/json$", "inspect (reload)"),
    ("GET", r"/containers/[^/]+/logs$", "logs"),
    ("GET", r"/containers/[^/]+/top$", "top (PID 1)"),
    ("POST", r"/containers/[^/]+/kill$", "kill"),
    ("DELETE", r"/containers/[^/]+$", "container remove"),
)


def request_kind(label: str) -> str:
    _, method, path = label.split(" ", 2)
    for want, pattern, name in REQUEST_KINDS:
        if method == want and re.search(pattern, path):
            return name
    return f"other request ({method} {re.sub(r'/containers/[0-9a-f]{12,}', '/containers/ID', path)})"


def traced(sm_lint: Sequence[str], args: Sequence[str], env: Dict[str, str], hide: str = "",
           freeze: bool = False) -> Dict[str, Any]:
    """One traced run: phases in seconds, and the text report (for its timeline facts)."""
    interpreter = python_of(sm_lint)
    with tempfile.TemporaryDirectory(prefix="sm-lint-bench-trace-") as folder:
        trace, report = Path(folder, "trace.json"), Path(folder, "report.txt")
        with report.open("wb") as out:
            launched = time.time()
            start = time.perf_counter()
            code = subprocess.call([interpreter, "-c", TRACER, *args], stdout=out, stderr=subprocess.DEVNULL,
                                   env=dict(env, SM_LINT_BENCH_TRACE=str(trace), SM_LINT_BENCH_HIDE=hide,
                                            SM_LINT_BENCH_FREEZE="1" if freeze else ""))
            wall = time.perf_counter() - start
        if code != 0 or not trace.is_file():
            raise BenchError(f"traced `sm-lint {' '.join(args)}` exited {code}:\n{report.read_text(errors='replace')[-2000:]}")
        data = json.loads(trace.read_text())
        text = report.read_text(errors="replace")
    phases: Dict[str, float] = {"interpreter start-up (to the first line of the program)": data["started"] - launched}
    events = data["events"]
    main_end = next(end for label, _, end in events if label == "main")
    requests = [(request_kind(label), s, e) for label, s, e in events if label.startswith("HTTP ")]
    connect = [(s, e) for label, s, e in events if label == "connect"]
    accounted = 0.0
    for label, s, e in events:
        if label == "import sm_lint.cli" or label.startswith(("request validation", "tar: ")):
            phases[label] = phases.get(label, 0.0) + e - s
            accounted += e - s
    for s, e in connect:
        inner = sum(r_end - r_start for _, r_start, r_end in requests if s <= r_start <= e)
        phases["connect: import the docker SDK, make the client"] = phases.get(
            "connect: import the docker SDK, make the client", 0.0) + (e - s - inner)
        accounted += e - s - inner
    for kind, s, e in requests:
        # The ready-log follower's streaming request runs beside the main thread: count its headers only.
        phases[f"engine: {kind}"] = phases.get(f"engine: {kind}", 0.0) + e - s
        accounted += e - s
    phases["everything else in Python (CLI, plan, report, waiting between polls)"] = main_end - accounted
    phases["interpreter exit"] = wall - phases["interpreter start-up (to the first line of the program)"] - main_end
    return {"wall_s": wall, "phases": phases, "timeline": timeline_of(text), "requests": len(requests)}


def timeline_of(report: str) -> List[Tuple[float, str]]:
    for line in report.splitlines():
        if line.startswith(("timeline:", "stop timeline:")):
            return [(float(m.group(1)), m.group(2)) for m in re.finditer(r"t\+([0-9.]+)s ([^|]+)", line)]
    return []


def python_of(sm_lint: Sequence[str]) -> str:
    if sm_lint[0] == sys.executable:
        return sys.executable
    first = Path(sm_lint[0]).read_text(errors="replace").splitlines()[:1]
    return first[0][2:].strip() if first and first[0].startswith("#!") else sys.executable


def stop_gaps(timeline: List[Tuple[float, str]]) -> Optional[Dict[str, float]]:
    """From a stop timeline: start() returned -> ready log matched -> SIGINT sent -> exit seen."""
    at: Dict[str, float] = {}
    after = None
    for moment, what in timeline:
        if what.startswith("started"):
            at["started"] = moment
        elif what.startswith("log matched"):
            at["matched"] = moment
        elif what.startswith("SIGINT sent"):
            at["signalled"] = moment
        found = re.search(r"exited with code \d+.*?, ([0-9.]+) s after SIGINT", what)
        if found:
            after = float(found.group(1))
    if len(at) < 3 or after is None:
        return None
    return {"start() returned -> ready log matched": at["matched"] - at["started"],
            "ready log matched -> SIGINT sent (PID 1 look)": at["signalled"] - at["matched"],
            "SIGINT sent -> exit seen": after}


def trace_summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    names: List[str] = []
    for run in runs:
        names += [n for n in run["phases"] if n not in names]
    gaps = [g for g in (stop_gaps(r["timeline"]) for r in runs) if g]
    return {
        "wall_s": summary([r["wall_s"] for r in runs]),
        "phase_median_s": {n: round(statistics.median(r["phases"].get(n, 0.0) for r in runs), 4) for n in names},
        "stop_gaps_median_s": {n: round(statistics.median(g[n] for g in gaps), 4) for n in gaps[0]} if gaps else {},
        "timelines": [r["timeline"] for r in runs],
    }


# -- the bench -------------------------------------------------------------------------------------

def resolve_sm_lint() -> Tuple[List[str], Dict[str, str], str]:
    env = dict(os.environ)
    found = scripts_dir_executable("sm-lint") or shutil.which("sm-lint")
    if found:
        return [found], env, f"console script {found}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    return [sys.executable, "-m", "sm_lint"], env, "python -m sm_lint with PYTHONPATH=src (no console script)"


def startup_costs(sm_lint: List[str], env: Dict[str, str], repeat: int) -> Dict[str, Any]:
    python = python_of(sm_lint)
    cases: Dict[str, List[str]] = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import sm_lint.cli' (typer)": [python, "-c", "import sm_lint.cli"],
        "sm-lint --version": sm_lint + ["--version"],
        "python -c 'import docker'": [python, "-c", "import docker"],
        "python -c 'import docker', paramiko hidden": [python, "-c", "import sys; sys.modules['paramiko'] = None; "
                                                                  "import docker"],
    }
    botocore = subprocess.call([python, "-c", "import botocore"], stderr=subprocess.DEVNULL) == 0
    if botocore:
        cases["load botocore's sagemaker service model"] = [
            python, "-c", "import botocore.loaders; botocore.loaders.create_loader()"
                          ".load_service_model('sagemaker', 'service-2')"]
    found = interleaved({n: (lambda argv=argv: run_timed(argv, env=env)) for n, argv in cases.items()},
                        repeat, what="start-up")
    return {name: summary(values) for name, values in found.items()}


def bench(args: argparse.Namespace) -> Dict[str, Any]:
    if not shutil.which("docker"):
        raise BenchError("no docker CLI on PATH: the baseline is `docker run --rm`")
    sm_lint, env, how = resolve_sm_lint()
    engine = Engine()
    results: Dict[str, Any] = {"machine": machine_info(), "repeat": args.repeat, "sm_lint": how}
    scratch = Path(tempfile.mkdtemp(prefix="sm-lint-bench-run-"))
    try:
        version = engine.client.version()
        results["engine"] = {"host": engine.host, "version": version.get("Version"),
                             "api": version.get("ApiVersion"), "storage_driver": engine.client.info().get("Driver")}
        results["versions"] = {
            "sm-lint": subprocess.run(sm_lint + ["--version"], capture_output=True, text=True, env=env).stdout.strip(),
            "docker CLI": subprocess.run(["docker", "--version"], capture_output=True, text=True).stdout.strip(),
            # Others may be editing the harness: the commit, and whether the working tree differs from it.
            "source": subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                                     text=True).stdout.strip() or "unknown",
        }
        print("bench_run: building images ...", file=sys.stderr)
        images = build_images(engine, args.exit_delay_ms)
        label = {LABEL_KEY: engine.session}
        repeat = args.repeat
        results["startup"] = startup_costs(sm_lint, env, repeat)

        completion: Dict[str, Any] = {}
        for name, image in (("true", images.true), ("sleep 1", images.sleep)):
            found = interleaved({
                "docker run --rm": lambda image=image: run_timed(["docker", "run", "--rm", image]),
                "SDK create+start+wait+remove": lambda image=image: sdk_completion(engine.client, image, label),
                "sm-lint run": lambda image=image: run_timed(sm_lint + ["run", image], env=env),
            }, repeat, what=f"completion, {name}")
            completion[name] = {case: summary(values) for case, values in found.items()}
        results["completion"] = completion

        data_in, out_cli, out_sm = scratch / "in", scratch / "out-docker", scratch / "out-sm-lint"
        total = make_input(data_in, args.files, args.mib, args.seed)

        def prepare() -> None:
            reset(out_cli)
            reset(out_sm)

        def checked(run: Callable[[], float], out: Path) -> float:
            wall = run()
            if tree_size(out) != (args.files, total):
                raise BenchError(f"{out}: expected {args.files} files, {total} bytes; got {tree_size(out)}")
            return wall

        found = interleaved({
            "docker run --rm -v (bind mounts)": lambda: checked(lambda: run_timed(
                ["docker", "run", "--rm", "-v", f"{data_in}:{INPUT_PATH}:ro", "-v", f"{out_cli}:{OUTPUT_PATH}",
                 images.copy]), out_cli),
            "sm-lint run --job-input --job-output (archive API)": lambda: checked(lambda: run_timed(
                sm_lint + ["run", images.copy, "--job-input", f"{data_in}:{INPUT_PATH}",
                           "--job-output", f"{OUTPUT_PATH}:{out_sm}"], env=env), out_sm),
        }, repeat, prepare, what=f"completion with {args.files} files, {args.mib} MiB in and out")
        results["data"] = {"files": args.files, "bytes": total,
                           "cases": {case: summary(values) for case, values in found.items()}}

        counter = iter(range(1_000_000))
        stop_args = ["--scenario", "stop", "--grace", "10"]
        found = interleaved({
            "docker CLI: run, read 'ready', kill -s INT, wait": lambda: cli_stop(
                images.stop, f"sm-lint-bench-{engine.session}-{next(counter)}"),
            "SDK: create, start, follow logs, kill, wait, remove": lambda: sdk_stop(engine.client, images.stop, label),
            "sm-lint run --ready-log '^ready$'": lambda: run_timed(
                sm_lint + ["run", images.stop, *stop_args, "--ready-log", "^ready$"], env=env),
            f"sm-lint run --stop-after {args.stop_after:g}": lambda: run_timed(
                sm_lint + ["run", images.stop, *stop_args, "--stop-after", f"{args.stop_after:g}"], env=env),
        }, repeat, what="stop")
        cli_runs = found["docker CLI: run, read 'ready', kill -s INT, wait"]
        sdk_runs = found["SDK: create, start, follow logs, kill, wait, remove"]
        delay = args.exit_delay_ms / 1000
        ready = [r.ready_s for r in cli_runs]
        results["stop"] = {
            "exit_delay_s": delay,
            "stop_after_s": args.stop_after,
            "ready_seen_by_docker_cli": summary(ready),
            "ready_seen_by_sdk": summary([r.ready_s for r in sdk_runs]),
            "sdk_ready_after_start_returned": summary([r.ready_after_start_s for r in sdk_runs]),
            "sdk_exit_seen_after_sigint": summary([r.exited_after_kill_s for r in sdk_runs]),
            "bound --ready-log (ready + exit delay)": summary([r + delay for r in ready]),
            f"bound --stop-after {args.stop_after:g} (ready + stop-after + exit delay)":
                summary([r + args.stop_after + delay for r in ready]),
            "cases": {case: summary([v.total_s if isinstance(v, StopRun) else v for v in values])
                      for case, values in found.items()},
        }

        if not args.no_trace:
            traces: Dict[str, Any] = {}
            cases: Dict[str, Callable[[], Any]] = {}
            data_args = ["run", images.copy, "--job-input", f"{data_in}:{INPUT_PATH}", "--job-output", f"{OUTPUT_PATH}:{out_sm}"]
            for name, run_args, hide, freeze in (
                    ("completion, true", ["run", images.true], "", False),
                    (f"{WHAT_IF}paramiko hidden", ["run", images.true], "paramiko", False),
                    (f"{WHAT_IF}botocore hidden", ["run", images.true], "botocore", False),
                    (f"{WHAT_IF}gc.freeze() before exit", ["run", images.true], "", True),
                    (f"{WHAT_IF}all three", ["run", images.true], "paramiko,botocore", True),
                    (f"completion, {args.files} files, {args.mib} MiB in and out", data_args, "", False),
                    ("stop, --ready-log", ["run", images.stop, *stop_args, "--ready-log", "^ready$"], "", False)):
                cases[name] = lambda run_args=run_args, hide=hide, freeze=freeze: traced(sm_lint, run_args, env, hide,
                                                                                         freeze)
            # Interleaved like the timed cases, so that the what-if compares with runs under the same load.
            for name, runs in interleaved(cases, repeat, prepare=lambda: reset(out_sm), what="traced runs").items():
                traces[name] = trace_summary(runs)
            results["trace"] = traces
    finally:
        print("bench_run: removing the bench's images and containers ...", file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)
        engine.cleanup()
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


# -- report ----------------------------------------------------------------------------------------

def s(value: float) -> str:
    return f"{value:.3f} s"


def pair(entry: Dict[str, Any]) -> str:
    return f"{s(entry['best_s'])} | {s(entry['median_s'])}"


def report(results: Dict[str, Any]) -> str:
    lines: List[str] = []
    info = results["machine"]
    lines.append(f"Machine: {info['cpu_model']}, nproc {info['nproc']}, Python {info['python']}, {info['platform']}; "
                 f"load average at start {info['loadavg_1_5_15']}, at end {info['loadavg_at_end']}")
    engine = results["engine"]
    lines.append(f"Engine: Docker {engine['version']} (API {engine['api']}, {engine['storage_driver']}) at "
                 f"{engine['host']}; {results['versions']['docker CLI']}; {results['versions']['sm-lint']} via "
                 f"{results['sm_lint']} (source {results['versions']['source']}). Best and median of {results['repeat']} "
                 "after a warm-up.")
    lines += ["", "Start-up (fresh processes)", "", "| | best | median |", "|---|---|---|"]
    lines += [f"| {name} | {pair(entry)} |" for name, entry in results["startup"].items()]

    lines += ["", "Completion scenario", "", "| image | case | best | median | over `docker run --rm` (best, median) |",
              "|---|---|---|---|---|"]
    for image, cases in results["completion"].items():
        base = cases["docker run --rm"]
        for case, entry in cases.items():
            over = "" if case == "docker run --rm" else \
                f"{entry['best_s'] - base['best_s']:+.3f} s, {entry['median_s'] - base['median_s']:+.3f} s"
            lines.append(f"| {image} | {case} | {pair(entry)} | {over} |")
    data = results["data"]
    cases = list(data["cases"].values())
    lines += ["", f"Completion with data: {data['files']} files, {data['bytes'] / (1 << 20):.0f} MiB copied by the job "
                  "from its input folder to its output folder, collected back", "",
              "| case | best | median |", "|---|---|---|"]
    lines += [f"| {case} | {pair(entry)} |" for case, entry in data["cases"].items()]
    lines.append(f"| difference | {cases[1]['best_s'] - cases[0]['best_s']:+.3f} s | "
                 f"{cases[1]['median_s'] - cases[0]['median_s']:+.3f} s |")

    stop = results["stop"]
    lines += ["", f"Stop scenario (the program exits {stop['exit_delay_s']:g} s after SIGINT; grace 10 s)", "",
              "| case | best | median |", "|---|---|---|"]
    lines.append(f"| 'ready' seen by `docker run` (from its launch) | {pair(stop['ready_seen_by_docker_cli'])} |")
    lines.append(f"| 'ready' seen through the SDK (warm interpreter) | {pair(stop['ready_seen_by_sdk'])} |")
    lines.append(f"| SDK: start() returned -> 'ready' read | {pair(stop['sdk_ready_after_start_returned'])} |")
    lines.append(f"| SDK: kill(SIGINT) -> wait() returned | {pair(stop['sdk_exit_seen_after_sigint'])} |")
    for key, entry in stop.items():
        if key.startswith("bound"):
            lines.append(f"| lower {key} | {pair(entry)} |")
    lines += [f"| {case} | {pair(entry)} |" for case, entry in stop["cases"].items()]
    bound = stop["bound --ready-log (ready + exit delay)"]
    ready_case = stop["cases"]["sm-lint run --ready-log '^ready$'"]
    bound_after = next(v for k, v in stop.items() if k.startswith("bound --stop-after"))
    after_case = next(v for k, v in stop["cases"].items() if "--stop-after" in k)
    lines.append(f"| sm-lint --ready-log over its bound | {ready_case['best_s'] - bound['best_s']:+.3f} s | "
                 f"{ready_case['median_s'] - bound['median_s']:+.3f} s |")
    lines.append(f"| sm-lint --stop-after over its bound | {after_case['best_s'] - bound_after['best_s']:+.3f} s | "
                 f"{after_case['median_s'] - bound_after['median_s']:+.3f} s |")

    for name, trace in (results.get("trace") or {}).items():
        if name.startswith(WHAT_IF) and not name.endswith("all three"):
            continue  # in the JSON; the what-if table below compares their walls
        lines += ["", f"What `sm-lint run` spends its time on ({name}; traced runs, median of each phase; "
                      f"wall best {s(trace['wall_s']['best_s'])}, median {s(trace['wall_s']['median_s'])})", "",
                  "| phase | median |", "|---|---|"]
        lines += [f"| {phase} | {value * 1000:.0f} ms |" for phase, value in trace["phase_median_s"].items()]
        lines += [f"| (stop timeline) {gap} | {value * 1000:.0f} ms |" for gap, value in trace["stop_gaps_median_s"].items()]
        if trace["timelines"]:
            lines.append("")
            lines.append("timeline of the last traced run: " + " | ".join(f"t+{t:.3f}s {w.strip()}"
                                                                          for t, w in trace["timelines"][-1]))
    traces = results.get("trace") or {}
    plain = traces.get("completion, true")
    what_ifs = {name[len(WHAT_IF):]: trace for name, trace in traces.items() if name.startswith(WHAT_IF)}
    if plain and what_ifs:
        lines += ["", "What-ifs against the plain traced runs of `true` (interleaved with them)", "",
                  "| what-if | wall best | wall median | change, best | change, median |", "|---|---|---|---|---|"]
        for name, trace in what_ifs.items():
            wall, base = trace["wall_s"], plain["wall_s"]
            lines.append(f"| {name} | {pair(wall)} | {wall['best_s'] - base['best_s']:+.3f} s | "
                         f"{wall['median_s'] - base['median_s']:+.3f} s |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark sm-lint run against docker run --rm.")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case, after one warm-up (default 5)")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this file")
    parser.add_argument("--files", type=int, default=100, help="input files of the data case (default 100)")
    parser.add_argument("--mib", type=int, default=50, help="MiB of input in all (default 50)")
    parser.add_argument("--exit-delay-ms", type=int, default=200, help="the stop program's delay after SIGINT (default 200)")
    parser.add_argument("--stop-after", type=float, default=1.0, help="seconds for the --stop-after case (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-trace", action="store_true", help="skip the traced runs (the breakdown)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.files < 1 or args.mib < 0 or args.exit_delay_ms < 0 or args.stop_after <= 0:
        parser.error("need --repeat >= 1, --files >= 1, --mib >= 0, --exit-delay-ms >= 0, --stop-after > 0")

    def terminated(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminated)
    try:
        results = bench(args)
    except BenchError as error:
        print(f"bench_run: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench_run: interrupted; the bench's images and containers were removed", file=sys.stderr)
        return 130
    if args.json:  # before the report, so that the numbers survive a bug in it
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(report(results))
    if args.json:
        print(f"\nWrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
