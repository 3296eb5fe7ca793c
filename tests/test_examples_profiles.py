"""examples/training and examples/inference: their Dockerfiles pass `sm-lint check` under their
profile, their gate settings name files that exist and reach the harness, the CI workflow gates
both, the programs keep their contracts (train.py run in process on a temporary /opt/ml, serve.py
as a process on a free port, asked as SageMaker asks), and each example passes the whole gate on
the real engine: built from its unchanged Dockerfile, with this test interpreter and its standard
library imported as the `python:<tag>-slim` base (no registry can give python:3.12-slim here).
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Set

import pytest
import yaml

from sm_lint.gate_command import GateOptions, merged_options

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("profile", ["training", "inference"])
def test_example_dockerfile_has_no_findings_under_its_profile(profile: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-m", "sm_lint", "check", "--format", "json",
                           f"examples/{profile}/Dockerfile"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["findings"] == []


def test_example_gate_tables_reach_the_harness() -> None:
    inference = merged_options(GateOptions(config_file=EXAMPLES / "inference" / "pyproject.toml"))
    assert dict(inference.run_inputs) == {"model_data": str(EXAMPLES / "inference" / "model"),
                                          "payload": str(EXAMPLES / "inference" / "payload.csv")}
    assert inference.scenarios == ("serve", "stop")
    training = merged_options(GateOptions(config_file=EXAMPLES / "training" / "pyproject.toml"))
    inputs = dict(training.run_inputs)
    assert inputs["channels"] == (f"train={EXAMPLES / 'training' / 'data'}",)
    assert Path(inputs["hyperparameters"]).is_file() and Path(inputs["channels"][0].split("=", 1)[1]).is_dir()


def test_workflow_gates_both_profiles() -> None:
    workflow = yaml.safe_load((EXAMPLES / ".github" / "workflows" / "sm-lint.yml").read_text())
    jobs = workflow["jobs"]
    for profile in ("training", "inference"):
        job = jobs[f"gate-{profile}"]
        steps = " ".join(str(step.get("run", "")) for step in job["steps"])
        assert f"examples/{profile}" in json.dumps(job) and "sm-lint gate" in steps and "--no-build" in steps


def _ml_root(tmp_path: Path, channel_rows: str, hyperparameters: str = '{"decimals": "2"}') -> Path:
    root = tmp_path / "opt-ml"
    (root / "input/config").mkdir(parents=True)
    (root / "input/data/train").mkdir(parents=True)
    (root / "model").mkdir()
    (root / "input/config/hyperparameters.json").write_text(hyperparameters)
    (root / "input/config/inputdataconfig.json").write_text('{"train": {"TrainingInputMode": "File"}}')
    (root / "input/data/train/part-0.csv").write_text(channel_rows)
    return root


def test_train_saves_the_model_under_opt_ml_model(tmp_path: Path) -> None:
    train = _module(EXAMPLES / "training" / "train.py")
    root = _ml_root(tmp_path, "1,2\n3,5\n")
    assert train.main(["train"], root) == 0
    assert json.loads((root / "model/model.json").read_text()) == {"means": [2.0, 3.5]}
    assert train.main([], root) == 2  # not run as SageMaker runs it


def test_train_failure_writes_the_failure_reason(tmp_path: Path) -> None:
    train = _module(EXAMPLES / "training" / "train.py")
    root = _ml_root(tmp_path, "1,x\n")
    assert train.main(["train"], root) == 1
    reason = (root / "output/failure").read_text()
    assert reason.startswith("ValueError: could not convert string to float") and len(reason) <= 1024
    assert not (root / "model/model.json").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_ping_and_invocations_and_stops_on_sigterm(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text('{"means": [1.0, 2.0]}')
    port = _free_port()
    env = dict(os.environ, SM_MODEL_DIR=str(model), SAGEMAKER_BIND_TO_PORT=str(port))
    server = subprocess.Popen([sys.executable, str(EXAMPLES / "inference" / "serve.py"), "serve"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except urllib.error.URLError:
                time.sleep(0.05)
        request = urllib.request.Request(f"{base}/invocations", data=b"4,6\n", headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200 and answer.read() == b"5.000000\n"
        wrong = urllib.request.Request(f"{base}/invocations", data=b"{}", headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(wrong, timeout=10)
        assert refused.value.code == 415
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0]
    assert f"on port {port}" in output and output.rstrip().endswith("stopped")


# -- the examples built and gated on the real engine -------------------------------------------------

_SKIP_DIRS = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "__pycache__",
              "site-packages", "pydoc_data"}


def _needed_libraries(paths: List[Path]) -> Set[Path]:
    """The shared libraries `ldd` names for these files (and the loader)."""
    found: Set[Path] = set()
    for path in paths:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for match in re.finditer(r"(/\S+) \(0x", done.stdout):
            found.add(Path(match.group(1)))
    return found


@pytest.fixture(scope="module")
def python_base(docker_client: Any) -> Iterator[str]:
    """A stand-in for python:X-slim, which no registry here gives: this test interpreter, its standard
    library and the shared libraries they need, as an image made by `docker import`, tagged
    `python:<tag>-slim` so that the examples' unchanged `FROM python:${PYTHON_VERSION}-slim` takes it
    with `--build-arg PYTHON_VERSION=<tag>`. Removed after the module."""
    from docker_support import LABEL_KEY, SESSION_ID, unavailable

    if shutil.which("ldd") is None:
        unavailable("ldd is needed to collect the interpreter's libraries")
    executable = Path(os.path.realpath(sys.executable))
    stdlib = Path(os.__file__).resolve().parent
    files: List[Path] = [executable]
    for folder, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = [name for name in dirnames if name not in _SKIP_DIRS]
        files += [Path(folder, name) for name in filenames]
    libraries = _needed_libraries([executable] + [p for p in files if p.suffix == ".so"])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(set(files) | libraries):
            real = path.resolve()
            tar.add(str(real), arcname=str(path).lstrip("/"), recursive=False)
        link = tarfile.TarInfo("usr/local/bin/python3")
        link.type, link.linkname = tarfile.SYMTYPE, str(executable)
        tar.addfile(link)
    version = f"smlinttest{SESSION_ID.replace('-', '')}"
    tag = f"python:{version}-slim"
    docker_client.api.import_image_from_data(
        buffer.getvalue(), repository="python", tag=f"{version}-slim",
        changes=[f"LABEL {LABEL_KEY}={SESSION_ID}", "ENV PATH=/usr/local/bin:/usr/bin:/bin"])
    try:
        yield version
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - the session's cleanup removes labelled images too
            pass


@pytest.mark.parametrize("profile", ["training", "inference"])
def test_example_passes_the_gate_on_the_engine(profile: str, python_base: str, docker_client: Any,
                                               tmp_path: Path) -> None:
    """The CI workflow's gate, here: build the example, check its Dockerfile, inspect the image, run it
    under its profile (train on data/ / serve model/ and payload.csv, stop with SIGTERM)."""
    from docker_support import SESSION_ID
    from sm_lint.catalogue import Catalogue
    from sm_lint.gate_command import run_gate

    tag = f"sm-lint-test/example-{profile}:{SESSION_ID}"
    config_file = EXAMPLES / profile / "pyproject.toml"
    options = merged_options(GateOptions(config_file=config_file, image=tag, quiet=True,
                                         build_args=(("PYTHON_VERSION", python_base),),
                                         reports=(f"json={tmp_path / 'report.json'}",)))
    try:
        result = run_gate(options, Catalogue.load())
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - not built
            pass
    assert result.findings == [] and result.exit_code == 0, (result.findings, result.skipped)
    assert result.profile == profile
    facts = dict(result.facts)
    if profile == "training":
        assert facts["job"] == "Completed" and {"SM301", "SM341"} <= set(result.rules)
    else:
        assert "HTTP 200" in facts["/invocations algo-1"] and "/ping polled on port 9080" in facts["serve timeline"]
        assert facts["stop verdict"] == "SIGTERM honoured"
        assert {"SM330", "SM331", "SM332", "SM310"} <= set(result.rules)
