"""A SageMaker training algorithm (`docker run IMAGE train`), standard library only.

Reads the CSV files of the `train` channel, learns the mean of each column, and saves it as
/opt/ml/model/model.json (what inference/serve.py serves). The contract it keeps
(sm-lint run --profile training checks each):
- hyperparameters from /opt/ml/input/config/hyperparameters.json, all strings (`decimals`);
- the channel's files under /opt/ml/input/data/train (inputdataconfig.json names the channels);
- the model under /opt/ml/model (SageMaker uploads it as model.tar.gz; nothing else is kept);
- on failure, the reason in /opt/ml/output/failure (its first 1,024 characters become the job's
  FailureReason) and a non-zero exit code;
- SIGTERM (StopTrainingJob; SIGKILL follows 120 s later) stops it cleanly.
"""
from __future__ import annotations

import csv
import json
import signal
import sys
from pathlib import Path
from typing import List

ROOT = Path("/opt/ml")


class Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise Stopped()


def train(root: Path) -> List[float]:
    hyperparameters = json.loads((root / "input/config/hyperparameters.json").read_text())
    decimals = int(hyperparameters.get("decimals", "4"))
    channels = json.loads((root / "input/config/inputdataconfig.json").read_text())
    if "train" not in channels:
        raise ValueError(f"no `train` channel (channels: {', '.join(sorted(channels)) or 'none'})")
    sums: List[float] = []
    rows = 0
    for path in sorted((root / "input/data/train").rglob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.reader(handle):
                if not row:
                    continue
                values = [float(cell) for cell in row]
                sums = [a + b for a, b in zip(sums, values)] if sums else values
                rows += 1
    if not rows:
        raise ValueError("the train channel has no CSV rows")
    return [round(total / rows, decimals) for total in sums]


def main(argv: List[str], root: Path = ROOT) -> int:
    if argv[-1:] != ["train"]:
        print("usage: train.py train (SageMaker runs `docker run IMAGE train`)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    try:
        means = train(root)
    except Stopped:
        print("stopped by SIGTERM before the model was saved", flush=True)
        return 0
    except (OSError, ValueError) as error:
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output/failure").write_text(f"{type(error).__name__}: {error}"[:1024])
        print(f"training failed: {error}", file=sys.stderr)
        return 1
    (root / "model/model.json").write_text(json.dumps({"means": means}) + "\n")
    print(f"trained on {len(means)} columns: {means}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
