#!/usr/bin/env python3
"""Benchmark `sm-lint inspect registry:...` against downloading the same blobs with curl and
against `docker pull` + `sm-lint inspect docker:...`, all from one local registry.

    python bench/bench_registry.py [--size-mb 500] [--layers 4] [--small-files 20000] [--runs 3]
                                   [--out bench/out/registry] [--no-docker] [--keep] [--breakdown]

Steps:
1. Generate a seeded image as an OCI layout on disk, in constant memory: LAYERS gzip layers of
   pseudo-random file data (big files of 1-8 MiB, plus SMALL_FILES small files spread over the
   layers, so the listing has real work), a config and a manifest. Random data does not compress:
   the blobs are about SIZE_MB on the wire.
2. Start Debian's docker-registry (CNCF distribution) on a free loopback port with storage in
   the output folder, and upload the layout through the Distribution API (streamed from disk).
3. Time, interleaved (one run of each case per round, ROUNDS = --runs, after one untimed warm-up
   round), each with its peak RSS (GNU time %M, as bench_inspect.py):
   - `sm-lint inspect registry:HOST/bench:v1 -f json`, DOCKER_HOST pointing nowhere;
   - `curl` fetching the manifest, the config and every layer blob to /dev/null (one process,
     sequential, as sm-lint fetches them): the download floor;
   - `curl URL | openssl dgst -sha256` per blob: the floor with the digest check sm-lint also does
     (sm-lint hashes each layer twice: the blob's digest and the uncompressed diff_id);
   - `curl URL | tar -tzf -` per layer: download, decompress and list, with no digest;
   - `docker pull HOST/bench:v1` then `sm-lint inspect docker:HOST/bench:v1 -f json`, the image
     removed from the engine (untimed) before each run. Skipped with --no-docker or no engine.
4. Print a Markdown table and write results.json in the output folder; the registry is stopped
   and its storage removed (with --keep, the generated layout stays).

--breakdown (instead of the timings): where sm-lint's CPU time goes, which `python -m cProfile`
on the command cannot show (the work runs on download and hashing threads). Each generated layer
blob is fed from memory through the reader sm-lint uses (layers.LayerSink) on one thread, under
cProfile: the two sha256 digests, the inflate and the tar listing each get their own rows; then
the inflate alone with zlib and with zlib-ng, best of 3.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
from bench import machine_info  # noqa: E402
from bench_inspect import RSS_SOURCE, Run, run_command, run_pipe  # noqa: E402

MIB = 1 << 20
MTIME = 1_700_000_000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


# -- the image --------------------------------------------------------------------------------------

class Blob(NamedTuple):
    path: Path
    digest: str
    size: int
    media_type: str


class _Hashing:
    """A file object that hashes and counts what is written through it."""

    def __init__(self, target: Any) -> None:
        self.target, self.hash, self.size = target, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


class _GzipWriter:
    """tarfile writes here: sha256 of the tar (the diff_id), gzip level 1 into the blob file."""

    def __init__(self, out: _Hashing) -> None:
        self.out = out
        self.diff = hashlib.sha256()
        self.compressor = zlib.compressobj(1, zlib.DEFLATED, 31)

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self.out.write(self.compressor.compress(data))
        return len(data)

    def close(self) -> None:
        self.out.write(self.compressor.flush())


def generate(folder: Path, size_mb: int, layers: int, small_files: int, seed: int) -> Tuple[List[Blob], Blob, bytes]:
    """The layer blobs, the config blob and the manifest bytes of a seeded image."""
    rng = random.Random(seed)
    pattern = rng.randbytes(8 * MIB)
    blobs_dir = folder / "blobs"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    per_layer = size_mb * MIB // layers
    layer_blobs: List[Blob] = []
    diff_ids: List[str] = []
    for number in range(layers):
        path = blobs_dir / f"layer{number}.tar.gz"
        with path.open("wb") as handle:
            hashing = _Hashing(handle)
            writer = _GzipWriter(hashing)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                written = 0
                big = 0
                while written < per_layer:
                    size = min(rng.randint(1 * MIB, 8 * MIB), per_layer - written)
                    _add(tar, f"opt/models/layer{number}/part{big:05d}.bin", _slice(pattern, rng, size))
                    written += size
                    big += 1
                for index in range(small_files // layers):
                    _add(tar, f"usr/lib/python3/site-packages/pkg{number}_{index // 100:04d}/mod{index:06d}.py",
                         _slice(pattern, rng, rng.randint(200, 4000)))
                if number == layers - 1:
                    _add(tar, "opt/ml/code/process.py", b"print('bench')\n")  # a finding (SM210)
            writer.close()
        digest = "sha256:" + hashing.hash.hexdigest()
        diff_ids.append("sha256:" + writer.diff.hexdigest())
        final = blobs_dir / digest.split(":")[1]
        path.rename(final)
        layer_blobs.append(Blob(final, digest, hashing.size, OCI_LAYER_GZIP))
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["python3", "/opt/ml/code/process.py"], "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"bench layer {n}"} for n in range(layers)],
    }).encode()
    config_blob = _write_blob(blobs_dir, config, OCI_CONFIG)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest, "size": config_blob.size},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layer_blobs],
    }).encode()
    return layer_blobs, config_blob, manifest


def _slice(pattern: bytes, rng: random.Random, size: int) -> bytes:
    start = rng.randrange(0, len(pattern) - min(size, len(pattern)) + 1)
    data = pattern[start:start + size]
    while len(data) < size:
        data += pattern[:size - len(data)]
    return data


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    import io

    tar.addfile(info, io.BytesIO(data))


def _write_blob(folder: Path, data: bytes, media: str) -> Blob:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = folder / digest.split(":")[1]
    path.write_bytes(data)
    return Blob(path, digest, len(data), media)


# -- the registry -----------------------------------------------------------------------------------

class Registry:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("docker-registry") or shutil.which("registry")
        if not binary:
            sys.exit("bench: no docker-registry (Debian: apt-get install docker-registry)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.folder = folder
        storage = folder / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = folder / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"
                          f"  filesystem:\n    rootdirectory: {storage}\nhttp:\n  addr: {self.host}\n")
        self.log = (folder / "registry.log").open("wb")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        sys.exit("bench: the registry did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.folder / "storage", ignore_errors=True)

    def push(self, repository: str, tag: str, blobs: Sequence[Blob], manifest: bytes) -> None:
        import requests

        session = requests.Session()
        session.trust_env = False
        base = f"http://{self.host}/v2/{repository}"
        for blob in blobs:
            started = session.post(f"{base}/blobs/uploads/", timeout=60)
            started.raise_for_status()
            location = started.headers["Location"]
            location = location if location.startswith("http") else f"http://{self.host}{location}"
            with blob.path.open("rb") as handle:
                done = session.put(f"{location}{'&' if '?' in location else '?'}digest={blob.digest}", data=handle,
                                   headers={"Content-Type": "application/octet-stream",
                                            "Content-Length": str(blob.size)}, timeout=600)
            done.raise_for_status()
        put = session.put(f"{base}/manifests/{tag}", data=manifest, headers={"Content-Type": OCI_MANIFEST}, timeout=60)
        put.raise_for_status()


# -- timing -----------------------------------------------------------------------------------------

def docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def sm_lint(*args: str, env: Optional[Dict[str, str]] = None) -> List[str]:
    return [sys.executable, "-m", "sm_lint", *args]


def sum_runs(runs: Sequence[Run]) -> Run:
    return Run(sum(r.wall_s for r in runs), sum(r.cpu_s for r in runs), max(r.max_rss_kib for r in runs),
               next((r.returncode for r in runs if r.returncode), 0), sum(r.lines for r in runs), b"",
               b"".join(r.stderr for r in runs))


def breakdown(blobs: Sequence[bytes]) -> int:
    """The reader's CPU time on one thread, by function (see the module docstring)."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT / "src"))
    from sm_lint.image import tarstream
    from sm_lint.image.layers import Budget, LayerSink

    def read_all() -> None:
        pool = tarstream.HashPool(threaded=False)  # hash on this thread, so cProfile sees it
        budget = Budget(10 ** 7, 1 << 40, 1000)
        for blob in blobs:
            sink = LayerSink("layer", pool, budget)
            for start in range(0, len(blob), MIB):
                sink.write(blob[start:start + MIB])
            sink.close()

    print(f"inflating with {tarstream.inflate_lib.__name__}; {sum(map(len, blobs)) / MIB:.0f} MiB of blobs")
    profile = cProfile.Profile()
    profile.runcall(read_all)
    pstats.Stats(profile).sort_stats("tottime").print_stats(8)
    for library in ("zlib", "zlib_ng.zlib_ng"):
        try:
            module = __import__(library, fromlist=["_"])
        except ImportError:
            continue
        best = min(_inflate_time(module, blobs) for _ in range(3))
        print(f"inflate alone, {library}: {best:.3f} s")
    return 0


def _inflate_time(module: Any, blobs: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for blob in blobs:
        inflater = module.decompressobj(31)
        for start in range(0, len(blob), MIB):
            data = blob[start:start + MIB]
            while data:
                inflater.decompress(data, MIB)
                data = inflater.unconsumed_tail
    return time.perf_counter() - started


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--small-files", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=BENCH / "out" / "registry")
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="profile the reader on one thread instead")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="registry-", dir=args.out))
    print(f"bench: generating {args.size_mb} MB in {args.layers} layers ...", file=sys.stderr)
    layers, config, manifest = generate(work / "layout", args.size_mb, args.layers, args.small_files, args.seed)
    if args.breakdown:
        try:
            return breakdown([b.path.read_bytes() for b in layers])
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    registry = Registry(work / "registry")
    try:
        registry.push("bench", "v1", [*layers, config], manifest)
        reference = f"{registry.host}/bench:v1"
        env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock", PYTHONPATH=str(ROOT / "src"),
                   DOCKER_CONFIG=str(work / "docker-config"))
        (work / "docker-config").mkdir()
        (work / "docker-config" / "config.json").write_text("{}")
        blob_urls = [f"http://{registry.host}/v2/bench/blobs/{b.digest}" for b in [config, *layers]]
        manifest_url = f"http://{registry.host}/v2/bench/manifests/v1"
        curl = ["curl", "-sSf", "--noproxy", "*", "-H", f"Accept: {OCI_MANIFEST}", "-o", "/dev/null", manifest_url]
        for url in blob_urls:
            curl += ["-o", "/dev/null", url]
        cases: Dict[str, Any] = {
            "sm-lint inspect registry:": lambda: run_command(sm_lint("inspect", f"registry:{reference}", "-f", "json"),
                                                             env=env),
            "curl (manifest, config, layers)": lambda: run_command(curl),
            "curl piped to openssl sha256, per blob": lambda: sum_runs([
                run_pipe(["curl", "-sSf", "--noproxy", "*", url], ["openssl", "dgst", "-sha256"]) for url in blob_urls]),
            "curl piped to tar -tz, per layer": lambda: sum_runs([
                run_pipe(["curl", "-sSf", "--noproxy", "*", url], ["tar", "-tzf", "-"]) for url in blob_urls[1:]]),
        }
        use_docker = not args.no_docker and docker_answers()
        if use_docker:
            engine_env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), DOCKER_CONFIG=str(work / "docker-config"))

            def pull_then_inspect() -> Run:
                subprocess.run(["docker", "rmi", "-f", reference], capture_output=True)
                pulled = run_command(["docker", "pull", "-q", reference])
                inspected = run_command(sm_lint("inspect", f"docker:{reference}", "-f", "json"), env=engine_env)
                return sum_runs([pulled, inspected])

            cases["docker pull + sm-lint inspect docker:"] = pull_then_inspect
        results: Dict[str, List[Run]] = {name: [] for name in cases}
        for round_number in range(args.runs + 1):  # round 0 warms the page cache, untimed
            for name, once in cases.items():
                print(f"bench: round {round_number}: {name}", file=sys.stderr)
                run = once()
                if run.returncode not in (0, 1):
                    sys.exit(f"bench: {name} exited {run.returncode}: {run.stderr.decode(errors='replace')[-2000:]}")
                if round_number:
                    results[name].append(run)
        if use_docker:
            subprocess.run(["docker", "rmi", "-f", reference], capture_output=True)
    finally:
        registry.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    wire = sum(b.size for b in layers) + config.size + len(manifest)
    floor = min(r.wall_s for r in results["curl (manifest, config, layers)"])
    rows = []
    for name, runs in results.items():
        best = min(runs, key=lambda r: r.wall_s)
        rows.append({"case": name, "best_s": round(best.wall_s, 3),
                     "median_s": round(statistics.median(r.wall_s for r in runs), 3),
                     "cpu_s": round(best.cpu_s, 3), "peak_rss_mb": round(best.max_rss_kib / 1024, 1),
                     "vs_curl": round(best.wall_s / floor, 2)})
    report = {"machine": machine_info(), "rss_source": RSS_SOURCE, "wire_bytes": wire, "layers": args.layers,
              "small_files": args.small_files, "runs": args.runs, "results": rows}
    (args.out / "results.json").write_text(json.dumps(report, indent=2))
    print(f"\n{wire / MIB:.0f} MiB on the wire, {args.layers} gzip layers, {args.small_files} small files; "
          f"best of {args.runs} interleaved rounds\n")
    print("| case | best | median | CPU | peak RSS | vs curl |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['case']} | {row['best_s']:.2f} s | {row['median_s']:.2f} s | {row['cpu_s']:.2f} s | "
              f"{row['peak_rss_mb']:.0f} MB | {row['vs_curl']:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
