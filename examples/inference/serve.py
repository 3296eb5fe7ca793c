"""A SageMaker inference container's server (`docker run IMAGE serve`), standard library only.

The model is `model.json` under /opt/ml/model (what training/train.py writes: a mean per column);
POST /invocations takes CSV rows and answers each row's distance to that mean, one per line.
The contract it keeps (sm-lint run --profile inference checks each):
- listens on 0.0.0.0, port SAGEMAKER_BIND_TO_PORT when given (the image carries the
  accept-bind-to-port label), else 8080;
- GET /ping answers 200 at once, from memory: the model is loaded before the server listens;
- POST /invocations answers within the limit, 415 for a content type it does not take;
- SIGTERM (the stop of an endpoint or transform job) closes the server and exits 0.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List

# SM_MODEL_DIR as the SageMaker toolkits name it; SageMaker itself always uses /opt/ml/model.
MODEL_DIR = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))


def load_model(model_dir: Path) -> List[float]:
    return [float(value) for value in json.loads((model_dir / "model.json").read_text())["means"]]


def score(means: List[float], text: str) -> str:
    lines = []
    for row in text.splitlines():
        if row.strip():
            values = [float(cell) for cell in row.split(",")]
            lines.append(f"{math.dist(values, means[:len(values)]):.6f}")
    return "\n".join(lines) + "\n"


def make_handler(means: List[float]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            if self.path == "/ping":
                self._answer(200)
            elif self.path == "/execution-parameters":  # batch transform asks; optional
                self._answer(200, json.dumps({"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD",
                                              "MaxPayloadInMB": 6}).encode(), "application/json")
            else:
                self._answer(404)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                self._answer(404)
            elif (self.headers.get("Content-Type") or "text/csv").split(";")[0].strip() != "text/csv":
                self._answer(415, b"send text/csv rows\n")
            else:
                try:
                    self._answer(200, score(means, body.decode("utf-8")).encode(), "text/csv")
                except ValueError as error:
                    self._answer(400, f"not numeric CSV: {error}\n".encode())

        def log_message(self, format: str, *args: object) -> None:  # one line per request on stdout
            print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)

    return Handler


def main(argv: List[str], model_dir: Path = MODEL_DIR) -> int:
    if argv[-1:] != ["serve"]:
        print(f"usage: {Path(sys.argv[0]).name} serve (SageMaker runs `docker run IMAGE serve`)", file=sys.stderr)
        return 2
    means = load_model(model_dir)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(means))
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    print(f"serving a model of {len(means)} columns on port {port}", flush=True)
    server.serve_forever()
    server.server_close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
