"""Summarise the CSV files of a SageMaker Processing input: rows, and per numeric column the count,
minimum, maximum and mean. Standard library only.

The Processing contract, as this script keeps it:
- inputs arrive under /opt/ml/processing/input/<name> before the container starts; what is written
  under /opt/ml/processing/output/<name> is uploaded when it exits 0;
- the job's ContainerArguments are this script's arguments (the image's ENTRYPOINT is exec form);
- StopProcessingJob sends SIGINT (SIGTERM from some tools), then SIGKILL after a grace period: the
  script stops at the next file boundary and exits without leaving a half-written output;
- on failure the reason goes to /opt/ml/output/message (SageMaker shows its first 1 KB as the
  job's FailureReason) and the exit code is non-zero.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

INPUT = "/opt/ml/processing/input/data"
OUTPUT = "/opt/ml/processing/output/summary"
MESSAGE = "/opt/ml/output/message"
EXIT_FAILED = 1


class Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class BadInput(Exception):
    """Input this job cannot summarise: the message is the job's FailureReason."""


def on_signal(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=INPUT, help=f"folder of CSV files (default {INPUT})")
    parser.add_argument("--output", default=OUTPUT, help=f"folder for summary.json (default {OUTPUT})")
    parser.add_argument("--message-file", default=MESSAGE, help=f"where a failure is explained (default {MESSAGE})")
    parser.add_argument("--delimiter", default=",", help="CSV field delimiter (default ,)")
    return parser.parse_args(argv)


class Column:
    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.numeric = True

    def add(self, text: str) -> None:
        if not text or not self.numeric:
            return
        try:
            value = float(text)
        except ValueError:
            self.numeric = False
            return
        self.count += 1
        self.total += value
        self.low, self.high = min(self.low, value), max(self.high, value)

    def summary(self) -> Optional[Dict[str, float]]:
        if not self.numeric or not self.count:
            return None
        return {"count": self.count, "min": self.low, "max": self.high, "mean": self.total / self.count}


def summarise(folder: Path, delimiter: str) -> Dict[str, object]:
    """Every *.csv under `folder` (recursively, in name order; each with a header row)."""
    files = sorted(path for path in folder.rglob("*.csv") if path.is_file()) if folder.is_dir() else []
    columns: Dict[str, Column] = {}
    rows = 0
    for path in files:
        name = path.relative_to(folder)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle, delimiter=delimiter)
                header = next(reader, None)
                if header is None:
                    continue
                for line_number, row in enumerate(reader, start=2):
                    if len(row) != len(header):
                        raise BadInput(f"{name}:{line_number}: {len(row)} fields, the header has {len(header)}")
                    rows += 1
                    for column, text in zip(header, row):
                        columns.setdefault(column, Column()).add(text.strip())
        except UnicodeDecodeError as error:
            raise BadInput(f"{name}: not UTF-8 (byte {error.start})") from None
        except csv.Error as error:
            raise BadInput(f"{name}: not CSV: {error}") from None
    numeric = {column: summary for column, stats in columns.items() if (summary := stats.summary()) is not None}
    return {"files": len(files), "rows": rows, "columns": numeric}


def write_json_atomically(folder: Path, name: str, document: object) -> Path:
    """Written to a temporary file first: a job stopped mid-write leaves no truncated output."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix=f".{name}.", delete=False, encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.write("\n")
    target = folder / name
    os.replace(handle.name, target)
    return target


def fail(message_file: str, reason: str) -> None:
    print(f"error: {reason}", file=sys.stderr, flush=True)
    try:
        Path(message_file).parent.mkdir(parents=True, exist_ok=True)
        Path(message_file).write_text(reason[:1024], encoding="utf-8")
    except OSError as error:  # the reason is in the log then; the exit code still says it failed
        print(f"error: cannot write {message_file}: {error}", file=sys.stderr, flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    # As PID 1 a process gets no default signal handling from the kernel: without these handlers
    # SIGTERM would be dropped, and the job would wait for SIGKILL.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    args = parse_args(argv)
    try:
        summary = summarise(Path(args.input), args.delimiter)
        written = write_json_atomically(Path(args.output), "summary.json", summary)
    except Stopped as stop:
        fail(args.message_file, f"stopped by {stop} before the summary was written")
        return 128 + stop.signum  # as a shell reports a process ended by that signal
    except BadInput as error:
        fail(args.message_file, f"bad input: {error}")
        return EXIT_FAILED
    except OSError as error:
        fail(args.message_file, f"{error.filename or 'I/O'}: {error.strerror or error}")
        return EXIT_FAILED
    print(f"summarised {summary['rows']} rows of {summary['files']} files into {written}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
