"""`sm-lint run --profile training|inference|batch-transform` against the real engine.

The images are FROM scratch: a static C model server (tests/data/profiles/server.c, its behaviour
chosen by `--mode=`) and a static C training algorithm (trainer.c), compiled at test time. The
serving containers are reached as a remote engine would reach them: through the probe container on
the job's network (sm_lint/harness/probe.py), never a published port.

The cases that SageMaker only decides at the start-up deadline (no 200 on /ping) take the shortest
limit a user may give, 60 s; they run side by side in one test so that the suite waits once.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from docker_support import build_image, static_binary
from sm_lint.catalogue import Catalogue
from sm_lint.errors import UsageError
from sm_lint.harness.jobspec import Overrides
from sm_lint.harness.lifecycle import PID_LABEL
from sm_lint.run_command import RunOptions, RunResult, run_harness

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "data" / "profiles"
CATALOGUE = Catalogue.load()
SHORTEST_STARTUP = 60.0  # ContainerStartupHealthCheckTimeoutInSeconds' minimum


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / ".sm-lint.toml"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def server_image(docker_client: Any) -> Any:
    binary = static_binary((PROGRAMS / "server.c").read_text())

    def build(mode: str, extra: str = "") -> str:
        return build_image(docker_client, f'FROM scratch\nCOPY server /server\n{extra}'
                                          f'ENTRYPOINT ["/server", "--mode={mode}"]\n', {"server": binary})
    return build


@pytest.fixture(scope="module")
def trainer_image(docker_client: Any) -> Any:
    binary = static_binary((PROGRAMS / "trainer.c").read_text())

    def build(mode: str) -> str:
        return build_image(docker_client, f'FROM scratch\nCOPY trainer /trainer\nENTRYPOINT ["/trainer", "--mode={mode}"]\n',
                           {"trainer": binary})
    return build


def harness(image: str, config_file: Path, **fields: Any) -> RunResult:
    overrides = Overrides(**{k: fields.pop(k) for k in list(fields) if k in Overrides.__dataclass_fields__})
    return run_harness(image, RunOptions(overrides=overrides, config_file=config_file, **fields), CATALOGUE)


def found(result: RunResult, rule: Optional[str] = None) -> List[Any]:
    return [f for f in result.findings if rule is None or f.rule == rule]


def fact(result: RunResult, label: str) -> str:
    values = [value for key, value in result.facts if key == label]
    assert values, f"no fact {label!r} in {result.facts}"
    return values[0]


def leftovers(client: Any) -> Dict[str, List[str]]:
    label = {"label": f"{PID_LABEL}={os.getpid()}"}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=label)],
            "networks": [n.name for n in client.networks.list(filters=label)],
            "images": [i.id for i in client.images.list(filters=label)]}


# -- inference -------------------------------------------------------------------------------------

def test_healthy_server_gets_model_and_payload_and_leaves_nothing(server_image: Any, config_file: Path,
                                                                   tmp_path: Path, docker_client: Any) -> None:
    model = tmp_path / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:
        data = b"weights-v7\n"
        info = tarfile.TarInfo("model.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    payload = tmp_path / "rows.csv"
    payload.write_text("1.0,2.0\n")
    result = harness(server_image("ok"), config_file, profile="inference", model_data=str(model),
                     payload=str(payload), scenarios=("all",))
    assert found(result) == []
    assert fact(result, "profile") == "inference: docker run IMAGE serve"
    assert fact(result, "/ping algo-1").startswith("healthy ")
    invocation = fact(result, "/invocations algo-1")
    assert "HTTP 200" in invocation and "model=weights-v7;1.0,2.0" in invocation  # the tar.gz was unpacked
    assert "text/csv" not in invocation  # the content type went in the request, not the report
    assert fact(result, "stop verdict") == "SIGTERM honoured"  # the inference profile's signal
    assert {"SM330", "SM331", "SM332", "SM310", "SM311", "SM312"} <= set(result.rules)
    assert leftovers(docker_client) == {"containers": [], "networks": [], "images": []}


def test_not_healthy_says_why_after_the_startup_limit(server_image: Any, config_file: Path) -> None:
    """Wrong port, only 500s, loopback only, a labelled image that ignores SAGEMAKER_BIND_TO_PORT,
    and a crash: each is SM330, and says which (the first four wait the whole 60 s, side by side)."""
    label = 'LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n'
    cases = {
        "wrong port": (server_image("ok", 'ENV PORT=8000\n'), None),
        "500": (server_image("ping-500"), None),
        "loopback": (server_image("loopback"), None),
        "ignores bind port": (server_image("ok", label + 'ENV PORT=8080\n'), None),
        "crash": (server_image("crash"), None),
    }
    results: Dict[str, Any] = {}

    def run(name: str, image: str) -> None:
        try:
            results[name] = harness(image, config_file, profile="inference", startup_timeout=SHORTEST_STARTUP,
                                    scenarios=("serve",))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            results[name] = error

    threads = [threading.Thread(target=run, args=(name, image)) for name, (image, _) in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    messages = {}
    for name, result in results.items():
        assert not isinstance(result, BaseException), f"{name}: {result!r}"
        assert [f.rule for f in result.findings] == ["SM330"], (name, result.findings)
        messages[name] = result.findings[0].message
    assert "nothing accepted connections on port 8080 within the 60 s" in messages["wrong port"]
    assert "listens on 0.0.0.0:8000 (wrong port?)" in messages["wrong port"]
    assert "answered HTTP 500, never 200" in messages["500"]
    assert "listens on 127.0.0.1:8080 (loopback only" in messages["loopback"]
    assert "nothing accepted connections on port 9080" in messages["ignores bind port"]
    assert "listens on 0.0.0.0:8080" in messages["ignores bind port"]
    assert "exited with code 3 before /ping answered HTTP 200" in messages["crash"]
    crash = results["crash"].findings[0]
    assert "  error: cannot load the model" in crash.evidence


def test_labelled_image_is_served_on_the_bind_to_port(server_image: Any, config_file: Path) -> None:
    image = server_image("ok", 'LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true\n')
    result = harness(image, config_file, profile="inference", scenarios=("serve",))
    assert found(result) == []
    assert "/ping polled on port 9080" in fact(result, "serve timeline")


def test_serving_works_through_a_tcp_engine_address(server_image: Any, config_file: Path, tmp_path: Path) -> None:
    """Nothing published, nothing mounted: the same verdicts when the engine is only an address."""
    from docker_support import tcp_loopback

    payload = tmp_path / "rows.csv"
    payload.write_text("7,8\n")
    with tcp_loopback("/var/run/docker.sock") as address:
        result = harness(server_image("ok"), config_file, profile="inference", payload=str(payload),
                         scenarios=("serve",), docker_host=address)
    assert found(result) == [] and "model=none;7,8" in fact(result, "/invocations algo-1")


def test_slow_ping_is_sm331(server_image: Any, config_file: Path) -> None:
    result = harness(server_image("slow-ping"), config_file, profile="inference", scenarios=("serve",))
    assert [f.rule for f in result.findings] == ["SM331"]
    message = result.findings[0].message
    assert "GET /ping answered HTTP 200 in 3." in message and "over the 2 s SageMaker allows" in message


@pytest.mark.parametrize("mode, flags, expected", [
    ("reject", {}, "failed: HTTP 415; body (17 bytes): expected text/csv"),
    ("reset", {}, "failed: connection closed without an answer"),
    ("slow-invoke", {"invocations_timeout": 2.0}, "no answer within the 2 s invocation limit"),
])
def test_failed_invocation_is_sm332(server_image: Any, config_file: Path, tmp_path: Path, mode: str,
                                    flags: Dict[str, Any], expected: str) -> None:
    payload = tmp_path / "rows.csv"
    payload.write_text("1,2\n")
    result = harness(server_image(mode), config_file, profile="inference", payload=str(payload),
                     scenarios=("serve",), **flags)
    assert [f.rule for f in result.findings] == ["SM332"]
    assert expected in result.findings[0].message


def test_server_that_ignores_sigterm_needs_sigkill(server_image: Any, config_file: Path) -> None:
    result = harness(server_image("ignore-term"), config_file, profile="inference", scenarios=("stop",), grace=1.0)
    assert {f.rule for f in result.findings} >= {"SM310", "SM311"}
    assert "within the 1 s grace after SIGTERM" in found(result, "SM310")[0].message


def test_batch_transform_gets_its_environment_and_execution_parameters(server_image: Any, config_file: Path,
                                                                       tmp_path: Path) -> None:
    payload = tmp_path / "records.json"
    payload.write_text('{"x": 1}\n')
    result = harness(server_image("ok"), config_file, profile="batch-transform", payload=str(payload))
    assert found(result) == []
    assert result.profile == "batch-transform"
    parameters = fact(result, "GET /execution-parameters")
    assert parameters.startswith("HTTP 200: {") and '"SAGEMAKER_BATCH": "true"' in parameters
    assert "HTTP 200" in fact(result, "/invocations algo-1")


# -- training --------------------------------------------------------------------------------------

def test_training_gets_config_files_channels_and_gives_the_model_back(trainer_image: Any, config_file: Path,
                                                                       tmp_path: Path) -> None:
    channel = tmp_path / "train"
    channel.mkdir()
    (channel / "part-0.csv").write_text("1,0\n")
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text('{"epochs": "3", "lr": "0.1"}')
    out = tmp_path / "out"
    result = harness(trainer_image("ok"), config_file, profile="training", hyperparameters=str(hyperparameters),
                     channels=(f"train={channel}",), model_output=str(out), instance_count=2)
    assert found(result) == [] and fact(result, "job") == "Completed"
    assert json.loads((out / "model" / "hyperparameters.json").read_text()) == {"epochs": "3", "lr": "0.1"}
    assert json.loads((out / "model" / "inputdataconfig.json").read_text()) == {
        "train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}
    resources = json.loads((out / "model" / "resourceconfig.json").read_text())
    assert resources["hosts"] == ["algo-1", "algo-2"] and resources["network_interface_name"] == "eth0"
    assert resources["current_host"] in ("algo-1", "algo-2")
    assert (out / "model" / "channel-train.txt").read_text() == "part-0.csv\n"


def test_training_failure_carries_the_failure_reason(trainer_image: Any, config_file: Path) -> None:
    result = harness(trainer_image("fail"), config_file, profile="training")
    [failure] = found(result, "SM301")
    reason = [line for line in failure.evidence if line.startswith("FailureReason: ")][0][len("FailureReason: "):]
    assert reason.startswith("bad label 0 bad label 1") and len(reason) == 1024 - 1  # 1,024, its last space stripped
    assert fact(result, "job").startswith("Failed (AlgorithmError: bad label 0")


def test_training_that_saves_no_model_is_sm341(trainer_image: Any, config_file: Path) -> None:
    result = harness(trainer_image("no-model"), config_file, profile="training")
    assert [f.rule for f in result.findings] == ["SM341"]
    assert result.findings[0].severity.label == "warning"
    assert "wrote nothing to /opt/ml/model" in result.findings[0].message


def test_training_stop_uses_sigterm(trainer_image: Any, config_file: Path) -> None:
    result = harness(trainer_image("sleep"), config_file, profile="training", scenarios=("stop",))
    assert found(result) == []
    assert fact(result, "stop verdict") == "SIGTERM honoured"


# -- bad flags: refused before any container starts ---------------------------------------------------

@pytest.mark.parametrize("profile, fields, message", [
    ("training", {"payload": "x.csv"}, "--payload goes with --profile inference or batch-transform, not training"),
    ("inference", {"channels": ("train=.",)}, "--channel goes with --profile training, not inference"),
    ("processing", {"model_data": "."}, "--model-data goes with --profile inference or batch-transform"),
    ("inference", {"startup_timeout": 30.0}, "--startup-timeout 30: ContainerStartupHealthCheckTimeoutInSeconds allows 60 to 3600"),
    ("inference", {"startup_timeout": 4000.0}, "allows 60 to 3600 seconds"),
    ("inference", {"invocations_timeout": 61.0}, "--invocations-timeout 61"),
    ("inference", {"entrypoint": ["/x"]}, "takes no ContainerEntrypoint or ContainerArguments"),
    ("inference", {"model_data": "/nonexistent/model.tar.gz"}, "not a folder or a model.tar.gz"),
    ("training", {"job_file": "job.json"}, "--job takes a CreateProcessingJob request"),
])
def test_bad_profile_flags_are_usage_errors(profile: str, fields: Dict[str, Any], message: str, config_file: Path) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        harness("no-such-image:never", config_file, profile=profile, docker_host="tcp://127.0.0.1:1", **fields)


def test_payload_over_6_mb_and_bad_hyperparameters_are_refused(config_file: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (6 * 1024 * 1024 + 1))
    with pytest.raises(UsageError, match="6291457 bytes, more than the 6291456 bytes"):
        harness("x", config_file, profile="inference", payload=str(big))
    numbers = tmp_path / "hp.json"
    numbers.write_text('{"epochs": 10}')
    with pytest.raises(UsageError, match="'epochs' is 10; CreateTrainingJob takes strings only"):
        harness("x", config_file, profile="training", hyperparameters=str(numbers))
    with pytest.raises(UsageError, match="--scenario serve: only a serving container"):
        harness("x", config_file, profile="training", scenarios=("serve",))


def test_cli_refuses_a_bad_flag_on_one_line_before_any_work(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), DOCKER_HOST="tcp://127.0.0.1:1")
    done = subprocess.run([sys.executable, "-m", "sm_lint", "run", "--profile", "inference", "--startup-timeout", "5",
                           "any-image"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--startup-timeout 5" in done.stderr


# -- the probe -------------------------------------------------------------------------------------

def test_shipped_probes_were_built_from_the_shipped_source() -> None:
    source = ROOT / "src" / "sm_lint" / "harness" / "probe" / "probe.c"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    for name in ("sm-lint-probe-amd64", "sm-lint-probe-arm64"):
        binary = (ROOT / "src" / "sm_lint" / "data" / "probe" / name).read_bytes()
        assert f"sm-lint-probe-source-sha256={digest}".encode() in binary, \
            f"{name} is stale: rebuild it with scripts/build_probe.sh"


# -- guarantees and the gate ---------------------------------------------------------------------------

def test_ctrl_c_while_polling_ping_leaves_nothing_behind(server_image: Any, docker_client: Any, tmp_path: Path) -> None:
    """The probe container and its imported image go too, not only the job's container and network."""
    import signal as signals
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("DOCKER_HOST", None)
    (tmp_path / ".sm-lint.toml").write_text("")
    process = subprocess.Popen([sys.executable, "-m", "sm_lint", "run", "--profile", "inference", "--quiet",
                                server_image("ok", "ENV PORT=8000\n")], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    label = {"label": f"{PID_LABEL}={process.pid}"}
    try:
        for _ in range(1200):  # until the probe runs: then the container, network and image all exist
            if any(c.name.endswith("serve-probe") for c in docker_client.containers.list(filters=label)):
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        else:
            raise AssertionError("the probe never ran")
        process.send_signal(signals.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and len(stderr.splitlines()) == 1, stderr
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not docker_client.images.list(filters=label)


def test_gate_runs_the_served_image_under_its_profile(docker_client: Any, tmp_path: Path) -> None:
    from docker_support import SESSION
    from sm_lint.gate_command import GateOptions, run_gate

    (tmp_path / "server").write_bytes(static_binary((PROGRAMS / "server.c").read_text()))
    (tmp_path / "server").chmod(0o755)
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY server /server\nENTRYPOINT ["/server", "--mode=ok"]\n')
    (tmp_path / ".sm-lint.toml").write_text('profile = "inference"\n')
    (tmp_path / "rows.csv").write_text("1,2\n")
    tag = f"sm-lint-test/gate-inference:{SESSION.session_id}"
    try:
        result = run_gate(GateOptions(dockerfile=str(tmp_path / "Dockerfile"), context=str(tmp_path), image=tag,
                                      build=True, quiet=True, config_file=tmp_path / ".sm-lint.toml",
                                      scenarios=("completion", "stop"),
                                      run_inputs=(("payload", str(tmp_path / "rows.csv")),)), CATALOGUE)
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001 - not built
            pass
    assert result.findings == [] and result.exit_code == 0, result.findings
    assert result.profile == "inference"
    assert {"SM106", "SM206", "SM330", "SM331", "SM332", "SM310"} <= set(result.rules)
    assert "HTTP 200" in dict(result.facts)["/invocations algo-1"]
