"""Cold start of `sm-lint check` on one small Dockerfile, against `python -c pass` and hadolint.

Also timed: the "stdlib floor", an interpreter that only imports the standard-library modules that
`sm-lint check` needs (argparse, re, typing, pathlib, json, datetime, ...): no program built on them
can start faster.

The pre-commit hook runs sm-lint once per commit on a file or two, so what counts there is the
start-up: Python's own (the floor no Python program goes under), sm-lint's imports, the catalogue,
then the lint. The three commands run in turn, round after round (A B C A B C ...), so that a
machine whose speed drifts slows all three alike; each is reported as the median of its rounds,
and sm-lint's ratio to Python is the median of the per-round ratios.

    python bench/bench_start.py                    # --runs 21 --file fixtures/parser/directives.Dockerfile
    python bench/bench_start.py --importtime       # also: where sm-lint's import time goes

Bytecode: Python writes `__pycache__` only when allowed (PYTHONDONTWRITEBYTECODE unset, a
writable folder); a stale or missing cache is recompiled on every start and would be counted as
start-up. The bench compiles the package first and runs the commands with that variable unset.
"""
from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, machine_info, scripts_dir_executable  # noqa: E402  (a sibling script)

DEFAULT_FILE = ROOT / "fixtures" / "parser" / "directives.Dockerfile"
AIM = 3.0  # issue 11: within 3x of the interpreter's own start-up
# The standard-library modules `sm-lint check` imports (`python -X importtime`), and argparse's first
# message lookup, which imports locale: what any program built on them starts with.
STDLIB_FLOOR = ("import argparse, bisect, datetime, enum, errno, fnmatch, json, pathlib, re, stat, typing; "
                "import gettext; gettext.gettext('options')")


def wall(argv: Sequence[str], env: Dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def commands(file: Path) -> Dict[str, List[str]]:
    sm_lint = scripts_dir_executable("sm-lint")
    found = {"python -c pass": [sys.executable, "-c", "pass"],
             "stdlib floor": [sys.executable, "-c", STDLIB_FLOOR],
             "sm-lint check": [sm_lint, "check", str(file)] if sm_lint else
             [sys.executable, "-m", "sm_lint", "check", str(file)]}
    hadolint = scripts_dir_executable("hadolint")
    if hadolint:
        found["hadolint"] = [hadolint, "--no-fail", str(file)]
    return found


def importtime(file: Path, env: Dict[str, str], top: int = 15) -> List[str]:
    """The modules with the largest own import time (`python -X importtime`), one run."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sm_lint", "check", str(file)], env=env,
                          capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self" not in line:
            own, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
            rows.append((int(own), int(cumulative), name))
    ours = sum(own for own, _, name in rows if name.startswith("sm_lint"))
    python_own = {"site", "encodings", "codecs", "io", "abc", "os", "stat", "posixpath", "genericpath",
                  "_distutils_hack",
                  "_sitebuiltins", "sitecustomize", "zipimport", "_frozen_importlib_external", "posix", "time",
                  "_io", "marshal", "_codecs", "_abc", "_collections_abc", "_signal", "_thread", "_warnings",
                  "_weakref", "_imp", "encodings.aliases", "encodings.utf_8", "_stat", "os.path"}
    stdlib = sum(own for own, _, name in rows if not name.startswith("sm_lint") and name not in python_own)
    lines = [f"imports under -X importtime (which inflates them): sm_lint's own modules {ours / 1000:.1f} ms, "
             f"the standard library they pull in {stdlib / 1000:.1f} ms "
             "(what `python -c pass` imports itself left out)"]
    lines += [f"  {own / 1000:5.1f} ms  {name}" for own, _, name in sorted(rows, reverse=True)[:top]]
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="rounds (default 21)")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="the Dockerfile (default: a 7-line fixture)")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    args = parser.parse_args(argv)
    compileall.compile_dir(str(ROOT / "src" / "sm_lint"), quiet=1)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    cmds = commands(args.file)
    for argv_ in cmds.values():  # warm-up: page cache, bytecode
        wall(argv_, env)
    times: Dict[str, List[float]] = {name: [] for name in cmds}
    for _ in range(args.runs):
        for name, argv_ in cmds.items():
            times[name].append(wall(argv_, env))
    info = machine_info()
    print(f"machine: {info['cpu_model']}, {info['nproc']} cores, Python {info['python']}, "
          f"load {info['loadavg_1_5_15']}; "
          f"{args.runs} rounds, file {args.file.name}")
    floor = statistics.median(times["python -c pass"])
    for name, walls in times.items():
        print(f"  {name:15} median {statistics.median(walls) * 1000:6.1f} ms  "
              f"(min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f})")
    ratio = statistics.median(s / p for s, p in zip(times["sm-lint check"], times["python -c pass"]))
    floor_ratio = statistics.median(s / p for s, p in zip(times["stdlib floor"], times["python -c pass"]))
    print(f"stdlib floor / python -c pass: {floor_ratio:.2f}x per round (median)")
    print(f"sm-lint / python -c pass: {ratio:.2f}x per round (median); aim {AIM:.0f}x "
          f"({'met' if ratio <= AIM else 'not met'}); sm-lint's own share: "
          f"{(statistics.median(times['sm-lint check']) - floor) * 1000:.1f} ms")
    if "hadolint" in times:
        to_hadolint = statistics.median(s / h for s, h in zip(times["sm-lint check"], times["hadolint"]))
        print(f"sm-lint / hadolint: {to_hadolint:.2f}x")
    if args.importtime:
        print("\n".join(importtime(args.file, env)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
