"""`sm-lint run` against a real Docker engine: FROM-scratch fixture images (busybox-static and small
static C programs) run as SageMaker Processing runs them, and the harness's verdicts asserted.

Most tests call `run_harness` in process (the same code path as the CLI without an interpreter
start per case); the CLI itself is run as a process where a user would notice the difference:
exit codes, one-line errors, and being killed in the middle of a run.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import pytest

from docker_support import SESSION_ID, build_image, copy_image, static_binary, tcp_loopback
from sm_lint.catalogue import Catalogue
from sm_lint.harness.jobspec import Overrides
from sm_lint.harness.lifecycle import PID_LABEL, RUN_LABEL
from sm_lint.run_command import RunOptions, RunResult, run_harness

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue.load()
BUSYBOX = 'COPY busybox /bin/busybox\n'

HANDLER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void on_signal(int signum) { stop = signum; }
int main(void) {
    signal(SIGINT, on_signal);
    puts("ready"); fflush(stdout);
    while (!stop) pause();
    puts("stopping cleanly"); fflush(stdout);
    return 0;
}
"""
IGNORER_C = r"""
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    signal(SIGINT, SIG_IGN);
    puts("ready"); fflush(stdout);
    for (;;) pause();
}
"""
FAILER_C = r"""
#include <stdio.h>
int main(void) {
    FILE *message = fopen("/opt/ml/output/message", "w");
    if (message) { fputs("input table is empty", message); fclose(message); }
    fputs("error: input table is empty\n", stderr);
    return 3;
}
"""


class Images(NamedTuple):
    handler: str
    ignorer: str
    shell_form: str
    sleeper: str
    failer: str
    script: str  # runs /job.sh: whatever a test writes there through --entrypoint
    driver_bundled: str


@pytest.fixture(scope="module")
def images(docker_client: Any) -> Images:
    def build(dockerfile: str, files: Optional[Dict[str, Any]] = None) -> str:
        return build_image(docker_client, "FROM scratch\n" + BUSYBOX + dockerfile, files)

    return Images(
        handler=build('COPY handler /handler\nENTRYPOINT ["/handler"]\n', {"handler": static_binary(HANDLER_C)}),
        ignorer=build('COPY ignorer /ignorer\nENTRYPOINT ["/ignorer"]\n', {"ignorer": static_binary(IGNORER_C)}),
        # Shell form: Docker stores ["/bin/sh", "-c", "..."]. The shell execs a last simple command
        # (it becomes PID 1), so the work is not last here, as in `python job.py; echo done`.
        shell_form=build('COPY busybox /bin/sh\nENTRYPOINT /bin/busybox sleep 600; echo done\n'),
        sleeper=build('ENTRYPOINT ["/bin/busybox", "sleep", "600"]\n'),
        failer=build('COPY failer /failer\nENTRYPOINT ["/failer"]\n', {"failer": static_binary(FAILER_C)}),
        script=build('ENTRYPOINT ["/bin/busybox", "sh", "-c", "echo image-entrypoint \\"$0\\" \\"$@\\"", "cmd0"]\n'
                     'CMD ["from-cmd"]\n'),
        driver_bundled=build('COPY nvidia-smi /usr/bin/nvidia-smi\nCOPY libnvidia-ml.so.535.104.05 '
                             '/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05\nENTRYPOINT ["/bin/busybox", "true"]\n',
                             {"nvidia-smi": "#!/bin/busybox sh\necho baked-in nvidia-smi\n",
                              "libnvidia-ml.so.535.104.05": "not a library"}),
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """An empty config: keeps the repository's own settings out of the verdicts."""
    path = tmp_path / ".sm-lint.toml"
    path.write_text("")
    return path


def harness(image: str, config_file: Path, job_file: Optional[str] = None, **fields: Any) -> RunResult:
    overrides = Overrides(**{k: fields.pop(k) for k in list(fields) if k in Overrides.__dataclass_fields__})
    return run_harness(image, RunOptions(job_file=job_file, overrides=overrides, config_file=config_file, **fields),
                       CATALOGUE)


def rules(result: RunResult) -> List[str]:
    return sorted(f.rule for f in result.findings)


def fact(result: RunResult, label: str) -> str:
    values = [value for key, value in result.facts if key == label]
    assert values, f"no fact {label!r} in {result.facts}"
    return values[0]


def script(body: str) -> List[str]:
    """A ContainerEntrypoint that runs `body` with busybox sh (FROM-scratch images have no /bin/sh)."""
    return ["/bin/busybox", "sh", "-c", body]


def leftovers(client: Any, pid: Optional[int] = None) -> Dict[str, List[str]]:
    """What the harness left in the engine: of the sm-lint process `pid`, or of any run."""
    filters = {"label": f"{PID_LABEL}={pid}" if pid is not None else RUN_LABEL}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=filters)],
            "networks": [n.name for n in client.networks.list(filters=filters)]}


# -- completion --------------------------------------------------------------------------------------

def test_completed_job_gets_config_files_inputs_and_gives_back_outputs(images: Images, config_file: Path,
                                                                       tmp_path: Path, docker_client: Any) -> None:
    data = tmp_path / "data"
    (data / "part").mkdir(parents=True)
    (data / "a.csv").write_text("1,2\n")
    (data / "part" / "b.csv").write_text("3,4\n")
    out = tmp_path / "out"
    code = tmp_path / "code"  # the job's script arrives as an input, as with the SageMaker SDK's `code=`
    code.mkdir()
    (code / "run.sh").write_text(
        "set -e\no=/opt/ml/processing/output/result\nin=/opt/ml/processing/input/data\n"
        "/bin/busybox cat $in/a.csv $in/part/b.csv > $o/all.csv\n"
        "/bin/busybox cp /opt/ml/config/processingjobconfig.json /opt/ml/config/resourceconfig.json $o/\n"
        "/bin/busybox mkdir -p $o/nested\necho \"$MODE\" > $o/nested/env.txt\n")
    entrypoint = ["/bin/busybox", "sh", "/opt/ml/processing/input/code/run.sh"]
    result = harness(images.script, config_file, entrypoint=entrypoint, env={"MODE": "nightly"},
                     inputs=[(str(data), "/opt/ml/processing/input/data"), (str(code), "/opt/ml/processing/input/code")],
                     outputs=[("/opt/ml/processing/output/result", str(out))])
    assert result.findings == [], result.findings
    assert fact(result, "job") == "Completed"
    assert (out / "all.csv").read_text() == "1,2\n3,4\n"
    assert (out / "nested" / "env.txt").read_text() == "nightly\n"
    assert json.loads((out / "resourceconfig.json").read_text()) == {"current_host": "algo-1", "hosts": ["algo-1"]}
    job_config = json.loads((out / "processingjobconfig.json").read_text())
    assert job_config["AppSpecification"]["ContainerEntrypoint"] == entrypoint
    assert job_config["Environment"] == {"MODE": "nightly"}
    assert job_config["ProcessingInputs"][0]["S3Input"]["LocalPath"] == "/opt/ml/processing/input/data"
    assert "4 files collected" in fact(result, "output output-1 from algo-1")
    assert leftovers(docker_client, os.getpid()) == {"containers": [], "networks": []}


def test_failed_job_reports_exit_code_log_tail_and_exit_message(images: Images, config_file: Path) -> None:
    result = harness(images.failer, config_file)
    assert rules(result) == ["SM301"]
    finding = result.findings[0]
    assert "exited with code 3" in finding.message and "AlgorithmError" in finding.message
    assert any("error: input table is empty" in line for line in finding.evidence)
    assert "ExitMessage: input table is empty" in finding.evidence
    assert fact(result, "ExitMessage algo-1") == "input table is empty"
    assert fact(result, "job").startswith("Failed (AlgorithmError")
    assert result.failed


def test_exit_message_that_is_not_utf8_fails_the_job(images: Images, config_file: Path) -> None:
    result = harness(images.script, config_file,
                     entrypoint=script("printf 'donn\\351es' > /opt/ml/output/message"))
    assert rules(result) == ["SM302"]
    assert "byte 4" in result.findings[0].message
    assert fact(result, "job").startswith("Failed (ClientError")


def test_job_past_max_runtime_is_stopped_and_reported(images: Images, config_file: Path) -> None:
    result = harness(images.sleeper, config_file, max_runtime=1, grace=1)
    assert rules(result) == ["SM303"]  # one event, one finding: not SM301 "exit 137" as well
    assert "MaxRuntimeInSeconds=1" in result.findings[0].message
    assert result.findings[0].evidence == ("algo-1 wrote nothing to stdout or stderr",)
    assert "SIGKILL" in fact(result, "timeline")
    talker = harness(images.script, config_file, entrypoint=script("echo working; exec /bin/busybox sleep 60"),
                     max_runtime=1, grace=1)
    assert rules(talker) == ["SM303"]
    assert talker.findings[0].evidence == ("last log lines of algo-1:", "  working")  # the one log-tail shape


def test_a_long_job_says_how_long_it_may_wait_and_shows_progress(images: Images, config_file: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Up front: how long the completion scenario may wait (86,400 s when the request sets no
    MaxRuntimeInSeconds, named as the service default) and how to shorten it; then progress notes."""
    from sm_lint.harness import completion
    from sm_lint.progress import Progress

    said: List[str] = []

    class Recorder(Progress):
        def step(self, text: str) -> None:
            said.append(text)

        def note(self, text: str) -> None:
            said.append(text)

    monkeypatch.setattr(completion, "NOTE_AFTER", 0.5)
    result = run_harness(images.script, RunOptions(overrides=Overrides(entrypoint=script("/bin/busybox sleep 2")),
                                                   config_file=config_file), CATALOGUE, Recorder(quiet=True))
    assert result.findings == []
    assert "up to 86400 s (the service's default MaxRuntimeInSeconds (86400 s)); --max-runtime S or the job's " \
           "StoppingCondition sets a shorter bound" in said[0]
    assert any("algo-1 still running after" in line and "--max-runtime" in line for line in said[1:]), said


def test_image_that_cannot_start_fails_the_job(docker_client: Any, config_file: Path) -> None:
    nothing_to_run = build_image(docker_client, "FROM scratch\n" + BUSYBOX)
    result = harness(nothing_to_run, config_file)
    assert rules(result) == ["SM301"]
    assert "could not start" in result.findings[0].message
    assert "No command specified" in result.findings[0].message


@pytest.mark.parametrize("entrypoint, arguments, expected", [
    (None, None, "image-entrypoint cmd0 from-cmd"),  # the image's ENTRYPOINT + CMD
    (None, ["a", "b"], "image-entrypoint cmd0 a b"),  # ContainerArguments replace CMD
    (["/bin/busybox", "echo", "given"], None, "given"),  # ContainerEntrypoint: ENTRYPOINT and CMD ignored
    (["/bin/busybox", "echo", "given"], ["x"], "given x"),
])
def test_command_is_resolved_as_processing_does(images: Images, config_file: Path, tmp_path: Path,
                                                entrypoint: Any, arguments: Any, expected: str) -> None:
    result = harness(images.script, config_file, entrypoint=entrypoint, arguments=arguments)
    assert fact(result, "job") == "Completed"
    assert fact(result, "log algo-1") == expected


def test_every_host_runs_and_the_job_waits_for_the_last(images: Images, config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    body = ("b=/bin/busybox; h=$($b hostname); o=/opt/ml/processing/output/hosts; "
            "$b cp /opt/ml/config/resourceconfig.json $o/$h.json; [ $h = algo-2 ] && { $b sleep 2; exit 5; }; "
            "for i in 1 2 3 4 5; do $b ping -c1 -W1 algo-2 >$o/ping && exit 0; done; exit 9")
    result = harness(images.script, config_file, entrypoint=script(body), instance_count=2,
                     outputs=[("/opt/ml/processing/output/hosts", str(out))])
    assert rules(result) == ["SM301"]
    assert result.findings[0].message.startswith("algo-2 exited with code 5")  # algo-1 (exit 0) is fine
    for host in ("algo-1", "algo-2"):
        assert json.loads((out / f"{host}.json").read_text()) == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
    assert "1 packets received" in (out / "ping").read_text()  # the hosts reach each other by name


def test_sharded_input_splits_the_files_among_hosts(images: Images, config_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a", "b", "c", "d"):
        (data / f"{name}.csv").write_text(name)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"ProcessingInputs": [{"InputName": "data", "S3Input": {
        "S3Uri": data.as_uri(), "LocalPath": "/opt/ml/processing/input/data", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3DataDistributionType": "ShardedByS3Key"}}]}))
    out = tmp_path / "out"
    body = "/bin/busybox ls /opt/ml/processing/input/data > /opt/ml/processing/output/o/$(/bin/busybox hostname)"
    result = harness(images.script, config_file, job_file=str(job), entrypoint=script(body), instance_count=2,
                     outputs=[("/opt/ml/processing/output/o", str(out))])
    assert result.findings == []
    shares = [(out / host).read_text().split() for host in ("algo-1", "algo-2")]
    assert sorted(shares[0] + shares[1]) == ["a.csv", "b.csv", "c.csv", "d.csv"]
    assert len(shares[0]) == len(shares[1]) == 2


def test_network_isolation_leaves_only_loopback(images: Images, config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    body = "/bin/busybox cat /proc/net/dev > /opt/ml/processing/output/o/dev"
    result = harness(images.script, config_file, entrypoint=script(body), network_isolation=True,
                     outputs=[("/opt/ml/processing/output/o", str(out))])
    assert result.findings == []
    interfaces = {line.split(":")[0].strip() for line in (out / "dev").read_text().splitlines() if ":" in line}
    assert interfaces == {"lo"}


def test_containers_are_unprivileged_limited_labelled_and_mount_nothing(images: Images, config_file: Path,
                                                                        docker_client: Any) -> None:
    seen: List[Dict[str, Any]] = []

    def watch() -> None:
        for _ in range(200):
            found = docker_client.containers.list(filters={"label": f"{PID_LABEL}={os.getpid()}"})
            if found:
                seen.append(found[0].attrs)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = harness(images.script, config_file, entrypoint=script("/bin/busybox sleep 3"), cpus=0.5, memory="64m")
    watcher.join()
    assert result.findings == []
    assert seen, "the job's container was never seen running"
    attrs = seen[0]
    host_config = attrs["HostConfig"]
    assert host_config["Privileged"] is False
    assert not host_config.get("Binds") and not attrs.get("Mounts")
    assert host_config["NetworkMode"] not in ("host",)
    assert host_config["NanoCpus"] == 500_000_000 and host_config["Memory"] == 64 << 20
    assert attrs["Config"]["Labels"][PID_LABEL] == str(os.getpid())
    assert attrs["Config"]["Hostname"] == "algo-1"


def test_harness_containers_have_safe_default_limits(images: Images, config_file: Path, docker_client: Any,
                                                   tmp_path: Path) -> None:
    """Without --memory or --pids-limit every container still gets limits (4g, 4096 processes), so a
    fork bomb under test hits the container's limit, not the host's; the flags change or lift them."""
    seen: List[Dict[str, Any]] = []

    def watch() -> None:
        for _ in range(400):
            found = docker_client.containers.list(filters={"label": f"{PID_LABEL}={os.getpid()}"})
            if found:
                seen.append(found[0].attrs["HostConfig"])
                return
            time.sleep(0.05)

    out = tmp_path / "out"
    watcher = threading.Thread(target=watch)
    watcher.start()
    # A bounded fork bomb: 3000 sleepers against a 4096 limit would pass, so the test lowers it to 50.
    # busybox sh gives up at the first fork the limit refuses ("can't fork"): the job fails, contained.
    bomb = "n=0; while [ $n -lt 300 ]; do /bin/busybox sleep 30 & n=$((n+1)); done 2> /opt/ml/processing/output/o/err"
    result = harness(images.script, config_file, entrypoint=script(bomb), pids_limit=50,
                     outputs=[("/opt/ml/processing/output/o", str(out))])
    watcher.join()
    assert seen and seen[0]["PidsLimit"] == 50 and seen[0]["Memory"] == 4 << 30
    assert "can't fork" in (out / "err").read_text()  # forks past the limit failed in the container
    assert rules(result) == ["SM301"]

    seen.clear()
    watcher = threading.Thread(target=watch)
    watcher.start()
    harness(images.script, config_file, entrypoint=script("/bin/busybox sleep 2"))
    watcher.join()
    assert seen and seen[0]["PidsLimit"] == 4096 and seen[0]["Memory"] == 4 << 30

    seen.clear()
    watcher = threading.Thread(target=watch)
    watcher.start()
    harness(images.script, config_file, entrypoint=script("/bin/busybox sleep 2"), memory="none", pids_limit=0)
    watcher.join()
    assert seen and not seen[0].get("PidsLimit") and not seen[0]["Memory"]


# -- stop ---------------------------------------------------------------------------------------

def test_exec_form_program_that_handles_sigint_stops_cleanly(images: Images, config_file: Path) -> None:
    result = harness(images.handler, config_file, scenarios=("stop",), stop_after=1, grace=10)
    assert result.findings == [], result.findings
    assert fact(result, "stop verdict") == "SIGINT honoured"
    timeline = fact(result, "stop timeline")
    assert "SIGINT sent" in timeline and "exited with code 0" in timeline and "SIGKILL" not in timeline
    assert "SigCgt=0x2 (SIGINT)" in timeline


def test_ready_log_decides_when_to_stop(images: Images, config_file: Path) -> None:
    result = harness(images.handler, config_file, scenarios=("stop",), ready_log=r"^ready$", grace=10)
    assert result.findings == []
    assert "log matched '^ready$'" in fact(result, "stop timeline")


def test_program_that_ignores_sigint_is_predicted_and_killed(images: Images, config_file: Path) -> None:
    result = harness(images.ignorer, config_file, scenarios=("stop",), ready_log="ready", grace=1)
    assert rules(result) == ["SM310", "SM311"]
    sm311 = [f for f in result.findings if f.rule == "SM311"][0]
    assert "ignores SIGINT (SigIgn)" in sm311.message
    sm310 = [f for f in result.findings if f.rule == "SM310"][0]
    assert any("exited with code 137 (SIGKILL)" in line for line in sm310.evidence)
    assert sm310.evidence[-2:] == ("last log lines of algo-1:", "  ready")  # the one log-tail shape
    assert [line for line in sm311.evidence if line.startswith("SigIgn")][0].endswith(": SIGINT")
    assert "SigIgn=0x2 (SIGINT)" in fact(result, "stop timeline")  # decoded as SigCgt is


def test_sleep_as_pid1_has_no_handler(images: Images, config_file: Path) -> None:
    result = harness(images.sleeper, config_file, scenarios=("stop",), stop_after=1, grace=1)
    assert rules(result) == ["SM310", "SM311"]
    assert "has no handler for SIGINT" in [f for f in result.findings if f.rule == "SM311"][0].message


def test_shell_form_entrypoint_is_a_shell_that_does_not_forward(images: Images, config_file: Path) -> None:
    result = harness(images.shell_form, config_file, scenarios=("stop",), stop_after=1, grace=1)
    # busybox sh catches SIGINT itself (SigCgt has it), only to act on it after its foreground
    # child has exited, which the child never does: SIGKILL ends both. SM311 predicts it from
    # the shell with a child and no trap in its code.
    assert rules(result) == ["SM310", "SM311", "SM312"]
    sm311 = [f for f in result.findings if f.rule == "SM311"][0]
    assert "is a shell with `/bin/busybox sleep 600` as its child and no trap for SIGINT" in sm311.message
    sm312 = [f for f in result.findings if f.rule == "SM312"][0]
    assert "`/bin/sh -c /bin/busybox sleep 600; echo done`" in sm312.message
    assert "sleep 600" in sm312.message.split("runs", 1)[1]
    # The stop timeline is told once, under SM310; SM312 names PID 1 and its child.
    sm310 = [f for f in result.findings if f.rule == "SM310"][0]
    assert any(line.startswith("t+") for line in sm310.evidence)
    assert not any(line.startswith("t+") for line in sm312.evidence) and "children: /bin/busybox sleep 600" in sm312.evidence


def test_sigterm_is_selectable_and_python_style_handlers_do_not_cover_it(images: Images, config_file: Path) -> None:
    result = harness(images.handler, config_file, scenarios=("stop",), stop_signal="SIGTERM", stop_after=1, grace=1)
    assert rules(result) == ["SM310", "SM311"]
    assert "SIGTERM" in fact(result, "stop timeline")


def test_job_that_ends_before_the_signal_skips_the_stop_scenario(images: Images, config_file: Path) -> None:
    result = harness(images.failer, config_file, scenarios=("stop",), stop_after=5)
    assert result.findings == []
    assert "ended by itself before the stop signal" in fact(result, "stop scenario")
    assert ("SM310", result.skipped[0][1]) in result.skipped


# -- GPU (a throwaway engine runs tests/gpu_double/nvidia-container-runtime-hook) ---------------------

class GpuEngine(NamedTuple):
    client: Any
    host: str  # its address, for --docker-host


@pytest.fixture(scope="module")
def gpu(gpu_engine: str, gpu_client: Any) -> GpuEngine:
    return GpuEngine(gpu_client, gpu_engine)


def on_gpu(gpu: GpuEngine, docker_client: Any, image: str) -> str:
    """`image` (built in the main engine) moved into the GPU engine."""
    return copy_image(docker_client, image, gpu.client)


def test_gpu_scenario_sees_the_instance_gpus(gpu: GpuEngine, docker_client: Any, images: Images,
                                             config_file: Path) -> None:
    result = harness(on_gpu(gpu, docker_client, images.script), config_file, scenarios=("gpu",),
                     instance_type="ml.g5.xlarge", docker_host=gpu.host)
    assert result.findings == [], result.findings
    assert fact(result, "GPUs expected") == "1 (ml.g5.xlarge)"
    gpu_fact = fact(result, "GPU 0")
    assert gpu_fact.startswith("NVIDIA A10G, GPU-") and gpu_fact.endswith("driver 535.104.05")


def test_fewer_gpus_than_expected(gpu: GpuEngine, docker_client: Any, images: Images, config_file: Path) -> None:
    result = harness(on_gpu(gpu, docker_client, images.script), config_file, scenarios=("gpu",), expect_gpus=2,
                     docker_host=gpu.host)
    assert rules(result) == ["SM320"]
    assert "1 of the 2 GPUs of --expect-gpus are visible" in result.findings[0].message


def test_bundled_driver_files_break_gpu_start(gpu: GpuEngine, docker_client: Any, images: Images,
                                              config_file: Path) -> None:
    result = harness(on_gpu(gpu, docker_client, images.driver_bundled), config_file, scenarios=("gpu",),
                     instance_type="ml.g5.xlarge", docker_host=gpu.host)
    assert rules(result) == ["SM321"]
    assert "/usr/bin/nvidia-smi" in result.findings[0].message and "file exists" in result.findings[0].message


def test_stale_nvml_in_the_image_is_a_version_mismatch(gpu: GpuEngine, config_file: Path) -> None:
    stale = build_image(gpu.client, "FROM scratch\n" + BUSYBOX + "COPY lib /usr/lib64/libnvidia-ml.so.470.57.02\n"
                        'ENTRYPOINT ["/bin/busybox", "true"]\n', {"lib": "old"})
    result = harness(stale, config_file, scenarios=("gpu",), instance_type="ml.g5.xlarge", docker_host=gpu.host)
    assert rules(result) == ["SM321"]
    assert "Driver/library version mismatch" in result.findings[0].message


def test_unmet_cuda_requirement(gpu: GpuEngine, config_file: Path) -> None:
    needy = build_image(gpu.client, "FROM scratch\n" + BUSYBOX + 'ENV NVIDIA_REQUIRE_CUDA="cuda>=12.4 brand=tesla"\n'
                        'ENTRYPOINT ["/bin/busybox", "true"]\n')
    result = harness(needy, config_file, scenarios=("gpu",), instance_type="ml.g5.xlarge", docker_host=gpu.host)
    assert rules(result) == ["SM320"]
    assert "cuda>=12.4" in result.findings[0].message


def test_job_on_a_gpu_instance_gets_the_gpus(gpu: GpuEngine, docker_client: Any, images: Images, config_file: Path,
                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = harness(on_gpu(gpu, docker_client, images.script), config_file, instance_type="ml.g5.xlarge",
                     entrypoint=["/bin/busybox", "sh", "-c", "nvidia-smi -L > /opt/ml/processing/output/o/gpus"],
                     outputs=[("/opt/ml/processing/output/o", str(out))], docker_host=gpu.host)
    assert result.findings == [], result.findings
    assert (out / "gpus").read_text().startswith("GPU 0: NVIDIA A10G (UUID: GPU-")


def test_engine_without_gpus_skips_unless_required(engine_without_gpus: str, docker_client: Any,
                                                   images: Images, config_file: Path) -> None:
    import docker

    other = docker.DockerClient(base_url=engine_without_gpus)
    try:
        copy_image(docker_client, images.script, other)
        skipped = harness(images.script, config_file, scenarios=("gpu",), instance_type="ml.g5.xlarge",
                          docker_host=engine_without_gpus)
        assert skipped.findings == []
        assert "this engine cannot provide GPUs" in fact(skipped, "gpu scenario")
        assert {rule for rule, _ in skipped.skipped} == {"SM320", "SM321"}
        required = harness(images.script, config_file, scenarios=("gpu",), instance_type="ml.g5.xlarge",
                           docker_host=engine_without_gpus, require_gpu=True)
        assert rules(required) == ["SM320"] and "--require-gpu" in required.findings[0].message
        # The job itself still runs there, without GPUs, and says so.
        completed = harness(images.script, config_file, instance_type="ml.g5.xlarge", docker_host=engine_without_gpus,
                            instance_count=2)
        assert completed.findings == []
        assert "cannot provide them" in fact(completed, "note")
        assert leftovers(other) == {"containers": [], "networks": []}
    finally:
        other.close()


# -- remote engines, errors and cleanup -------------------------------------------------------------

def test_tcp_engine_moves_data_through_the_archive_api(images: Images, config_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("over tcp\n")
    out = tmp_path / "out"
    with tcp_loopback("/var/run/docker.sock") as address:
        result = harness(images.script, config_file, docker_host=address,
                         entrypoint=script("/bin/busybox cp /opt/ml/processing/input/d/in.txt /opt/ml/processing/output/o/"),
                         inputs=[(str(data), "/opt/ml/processing/input/d")],
                         outputs=[("/opt/ml/processing/output/o", str(out))])
    assert result.findings == []
    assert (out / "in.txt").read_text() == "over tcp\n"


def test_invalid_request_is_reported_and_never_run(images: Images, config_file: Path, docker_client: Any) -> None:
    result = harness(images.failer, config_file, arguments=["ok", ""], instance_count=101)
    assert rules(result) == ["SM300", "SM300"]
    assert "SageMaker would refuse it" in fact(result, "not run")
    assert leftovers(docker_client) == {"containers": [], "networks": []}


class Process(NamedTuple):
    code: int
    stdout: str
    stderr: str


def sm_lint(*args: str, cwd: Path, timeout: float = 120) -> Process:
    done = subprocess.run([sys.executable, "-m", "sm_lint", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    return Process(done.returncode, done.stdout, done.stderr)


def _env() -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    env.pop("SM_LINT_DEBUG", None)
    return env


def test_missing_image_is_exit_3_and_never_pulled(docker_client: Any, tmp_path: Path) -> None:
    run = sm_lint("run", "sm-lint-test/does-not-exist:1", cwd=tmp_path)
    assert run.code == 3
    assert run.stderr.splitlines() == [run.stderr.strip()] and "not found in the engine" in run.stderr
    assert "--pull" in run.stderr
    pulled = sm_lint("run", "sm-lint-test/does-not-exist:1", "--pull", cwd=tmp_path)
    assert pulled.code == 3 and "cannot pull" in pulled.stderr and len(pulled.stderr.splitlines()) == 1


def test_unreachable_engine_is_exit_3(tmp_path: Path) -> None:
    run = sm_lint("run", "x:1", "--docker-host", "tcp://127.0.0.1:1", cwd=tmp_path)
    assert run.code == 3
    assert run.stderr.strip() == "sm-lint: error: cannot reach a Docker engine at tcp://127.0.0.1:1: Connection refused"


def test_bad_flags_are_exit_2(tmp_path: Path) -> None:
    for args in (["--scenario", "halt"], ["--stop-signal", "SIGNOPE"], ["--ready-log", "("], ["--env", "NOVALUE"],
                 ["--job-input", "nocolon"], ["--memory", "lots"], ["--memory", "1k"], ["--grace", "-5"],
                 ["--stop-after", "-1"], ["--ready-timeout", "nan"], ["--cpus", "0"], ["--pids-limit", "-1"],
                 ["--expect-gpus", "-1"], ["--job-output", "/opt/ml/processing/output/o:/proc/x"], ["--force"],
                 ["-o", str(tmp_path / "no" / "report.json")]):
        # x:1 is not in any engine: each is refused before the engine is asked (which would be exit 3)
        run = sm_lint("run", "x:1", *args, cwd=tmp_path)
        assert run.code == 2, (args, run)
        assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("sm-lint: error: "), (args, run.stderr)
    run = sm_lint("run", "x:1", "--job-output", "/opt/ml/processing/output/o:/proc/x", cwd=tmp_path)
    assert "--job-output /opt/ml/processing/output/o:/proc/x: cannot write to /proc/x" in run.stderr


def test_old_spellings_of_the_job_mappings_still_work_with_a_note(tmp_path: Path) -> None:
    """`run --output` is now the report file, as in every command; the job output mapping is
    --job-output (and --input is --job-input). For one release a value that names a container path
    under /opt/ml/processing is still the mapping, with one note on stderr; anything else is the
    report file (a report path is checked first, like --report's)."""
    old = sm_lint("run", "x:1", "--output", "/opt/ml/processing/output/o:/proc/x", cwd=tmp_path)
    assert old.code == 2, old
    note, error = old.stderr.splitlines()
    assert note.startswith("sm-lint: note: run --output CONTAINER_PATH:DIR is the old spelling of --job-output")
    assert error.startswith("sm-lint: error: --job-output /opt/ml/processing/output/o:/proc/x: cannot write to /proc/x")
    old_input = sm_lint("run", "x:1", "--input", "nocolon", cwd=tmp_path)
    assert old_input.code == 2 and old_input.stderr.splitlines()[0].startswith(
        "sm-lint: note: run --input is the old spelling of --job-input"), old_input
    report = sm_lint("run", "x:1", "--output", str(tmp_path / "no" / "out:x"), cwd=tmp_path)
    assert report.code == 2 and report.stderr.startswith("sm-lint: error: --output ") and "cannot write report" in \
        report.stderr and "note" not in report.stderr, report
    twice = sm_lint("run", "x:1", "-o", "a.json", "--output", "b.json", cwd=tmp_path)
    assert twice.code == 2 and "--output is the report file and is given 2 times" in twice.stderr, twice


def test_report_file_and_job_output_mapping_in_one_run(images: Images, tmp_path: Path) -> None:
    """`-o FILE` is where the report goes (as in check, inspect and gate); `--job-output` collects
    the job's output folder; the old `--output CONTAINER_PATH:DIR` still collects it, with a note."""
    (tmp_path / ".sm-lint.toml").write_text("")
    body = "echo hi > /opt/ml/processing/output/o/hi.txt"
    common = ["run", images.script, "--entrypoint", "/bin/busybox", "--entrypoint", "sh", "--entrypoint=-c",
              "--entrypoint", body, "-f", "json", "--quiet"]
    run = sm_lint(*common, "--job-output", f"/opt/ml/processing/output/o:{tmp_path / 'new'}",
                  "-o", str(tmp_path / "report.json"), cwd=tmp_path)
    assert run.code == 0, run
    assert run.stdout == "" and run.stderr == ""
    assert json.loads((tmp_path / "report.json").read_text())["command"] == "run"
    assert (tmp_path / "new" / "hi.txt").read_text() == "hi\n"
    old = sm_lint(*common, "--output", f"/opt/ml/processing/output/o:{tmp_path / 'old'}", cwd=tmp_path)
    assert old.code == 0, old
    assert json.loads(old.stdout)["command"] == "run"
    assert (tmp_path / "old" / "hi.txt").read_text() == "hi\n"
    assert old.stderr.startswith("sm-lint: note: run --output CONTAINER_PATH:DIR is the old spelling of --job-output")


def test_run_without_an_image_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = sm_lint("run", cwd=tmp_path)
    assert run.code == 2 and run.stdout == "", run
    assert run.stderr == "sm-lint: error: run: give an IMAGE (or --cleanup); see sm-lint run --help\n"


def _job_with(tmp_path: Path, uri: str, kind: str = "input") -> Path:
    if kind == "input":
        request = {"ProcessingInputs": [{"InputName": "d", "S3Input": {
            "S3Uri": uri, "LocalPath": "/opt/ml/processing/input/d", "S3DataType": "S3Prefix", "S3InputMode": "File"}}]}
    else:
        request = {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "o", "S3Output": {
            "S3Uri": uri, "LocalPath": "/opt/ml/processing/output/o", "S3UploadMode": "EndOfJob"}}]}}
    job = tmp_path / "repo" / "job.json"
    job.parent.mkdir(exist_ok=True)
    job.write_text(json.dumps(request))
    return job


@pytest.mark.parametrize("kind", ["input", "output"])
def test_job_file_host_folders_stay_in_its_folder_unless_allowed(tmp_path: Path, kind: str) -> None:
    """`S3Uri: file:///etc` in a job file (a repository's: a pull request controls it) would copy a
    host folder into an untrusted container, or write over one: refused before any work (exit 2,
    x:1 is in no engine), unless the command line allows that folder. Symlinks do not get out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    job = _job_with(tmp_path, outside.as_uri(), kind)
    run = sm_lint("run", "x:1", "--job", str(job), cwd=tmp_path)
    assert run.code == 2 and "is outside the job file's folder" in run.stderr, run
    assert f"--allow-local-path {outside}" in run.stderr and len(run.stderr.splitlines()) == 1
    (job.parent / "link").symlink_to(outside)
    linked = sm_lint("run", "x:1", "--job", str(_job_with(tmp_path, (job.parent / "link").as_uri(), kind)), cwd=tmp_path)
    assert linked.code == 2 and "is outside the job file's folder" in linked.stderr, linked
    gated = sm_lint("gate", "--image", "x:1", "--job", str(job), cwd=tmp_path)
    assert gated.code == 2 and "is outside the job file's folder" in gated.stderr, gated
    # Allowed, or inside the job's folder: past the check (to the engine: x:1 is missing, exit 3)
    allowed = sm_lint("run", "x:1", "--job", str(job), "--allow-local-path", str(outside), cwd=tmp_path)
    assert allowed.code == 3, allowed
    (job.parent / "data").mkdir()
    inside = sm_lint("run", "x:1", "--job", str(_job_with(tmp_path, (job.parent / "data").as_uri(), kind)), cwd=tmp_path)
    assert inside.code == 3, inside
    # A flag is the user's own choice: --job-input/--job-output name any folder.
    flag = ["--job-input", f"{outside}:/opt/ml/processing/input/d"] if kind == "input" else \
        ["--job-output", f"/opt/ml/processing/output/o:{outside}"]
    assert sm_lint("run", "x:1", "--job", str(job), *flag, cwd=tmp_path).code == 3


def _start_and_wait_running(image: str, cwd: Path, client: Any) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "sm_lint", "run", image, "--scenario", "stop",
                                "--stop-after", "60", "--quiet"], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if client.containers.list(filters={"label": f"{PID_LABEL}={process.pid}", "status": "running"}):
            return process
        if process.poll() is not None:
            raise AssertionError(f"sm-lint ended early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the job's container never ran")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_killing_sm_lint_mid_run_leaves_nothing(images: Images, docker_client: Any, tmp_path: Path,
                                                signum: int, code: int) -> None:
    process = _start_and_wait_running(images.sleeper, tmp_path, docker_client)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert leftovers(docker_client, process.pid) == {"containers": [], "networks": []}


def test_cleanup_removes_what_a_sigkilled_run_left(images: Images, docker_client: Any, tmp_path: Path) -> None:
    process = _start_and_wait_running(images.sleeper, tmp_path, docker_client)
    process.kill()
    process.communicate(timeout=30)
    assert leftovers(docker_client, process.pid)["containers"]  # SIGKILL cannot be handled
    left = leftovers(docker_client, process.pid)["containers"]
    run = sm_lint("run", "--cleanup", cwd=tmp_path)
    assert run.code == 0, run
    removed = [line for line in run.stdout.splitlines() if line.startswith("removed container ")]
    assert any(left[0] in line and f"owner pid {process.pid} on" in line and "image " in line
               and f"process {process.pid} on this host is gone" in line for line in removed), run.stdout
    assert leftovers(docker_client, process.pid) == {"containers": [], "networks": []}


def test_cleanup_leaves_other_machines_and_live_runs_unless_forced(images: Images, docker_client: Any,
                                                                    tmp_path: Path) -> None:
    """A shared engine (tcp://, ssh://, a CI host's socket): another machine's running job cannot be
    proven dead from here, so --cleanup lists it and keeps it; --force removes it. A live run of
    this host is never removed. Every line names what it is about; --format json says the same."""
    from sm_lint.harness.lifecycle import HOST_LABEL

    def labelled(name: str, host: str, pid: int) -> Any:
        labels = {RUN_LABEL: f"test-{name}", PID_LABEL: str(pid), HOST_LABEL: host, "sm-lint-test": SESSION_ID}
        container = docker_client.containers.create(images.sleeper, name=f"sm-lint-{SESSION_ID}-{name}",
                                                    labels=labels, network_mode="none")
        container.start()
        return container

    elsewhere = labelled("elsewhere", "another-ci-runner", 4242)
    live = labelled("live", socket.gethostname(), os.getpid())  # this pytest process: alive (not the cleaner)
    try:
        run = sm_lint("run", "--cleanup", cwd=tmp_path)
        assert run.code == 0, run
        elsewhere.reload(), live.reload()
        assert elsewhere.status == "running" and live.status == "running"
        kept = [line for line in run.stdout.splitlines() if elsewhere.name in line]
        assert kept and kept[0].startswith("kept (--force removes it) container") and \
            "owner pid 4242 on another-ci-runner" in kept[0], run.stdout
        assert "--force would remove" in run.stdout.splitlines()[-1]

        as_json = json.loads(sm_lint("run", "--cleanup", "--format", "json", cwd=tmp_path).stdout)
        kept_json = {item["name"]: item for item in as_json["kept"]}
        assert kept_json[elsewhere.name]["host"] == "another-ci-runner" and kept_json[elsewhere.name]["removed_by_force"]
        assert kept_json[live.name]["alive"] and not kept_json[live.name]["removed_by_force"]
        assert elsewhere.name not in {item["name"] for item in as_json["removed"]}

        forced = json.loads(sm_lint("run", "--cleanup", "--force", "-f", "json", cwd=tmp_path).stdout)
        gone = {item["name"]: item for item in forced["removed"]}
        assert gone[elsewhere.name]["id"] == elsewhere.id and gone[elsewhere.name]["image"]
        live.reload()
        assert live.status == "running" and live.name not in gone
        import docker.errors

        with pytest.raises(docker.errors.NotFound):
            elsewhere.reload()
    finally:
        for container in (elsewhere, live):
            try:
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - removed by the test
                pass


@pytest.mark.parametrize("with_cat", [True, False])
def test_pid1_masks_without_the_hosts_proc(docker_client: Any, tmp_path: Path, with_cat: bool) -> None:
    """As with a remote engine, whose container pids mean nothing on this machine: the masks come
    from `cat /proc/1/status` in the container, or are reported as unreadable without `cat`."""
    from sm_lint.harness.job import Job
    from sm_lint.harness.jobspec import load_request
    from sm_lint.harness.lifecycle import Session
    from sm_lint.harness.plan import make_plan
    from sm_lint.harness.stop import read_masks

    cat = "COPY busybox /bin/cat\n" if with_cat else ""
    image = build_image(docker_client, "FROM scratch\n" + BUSYBOX + cat +
                        'ENTRYPOINT ["/bin/busybox", "sh", "-c", "trap \'exit 0\' INT; while :; do /bin/busybox sleep 0.2; done"]\n')
    plan = make_plan(load_request(None, Overrides(image=image)), image)
    with Session(docker_client) as session:
        job = Job(session, plan, "stop")
        assert job.launch() is None
        masks, source = read_masks(job, "algo-1", proc=tmp_path)  # an empty folder: no such pid here
        if with_cat:
            assert masks is not None and masks.catches(signal.SIGINT), source
            assert source == "`cat /proc/1/status` in the container"
        else:
            assert masks is None and "no `cat`" in source
        assert read_masks(job, "algo-1")[1] == "the host's /proc"  # the local engine's own path
    assert leftovers(docker_client, os.getpid()) == {"containers": [], "networks": []}


def test_isolated_hosts_reach_each_other_on_an_internal_network(images: Images, config_file: Path,
                                                               tmp_path: Path, docker_client: Any) -> None:
    """Under network isolation, several hosts still talk to each other (as on SageMaker), on a
    network that the engine marks internal: no route out through the host's NAT."""
    import docker.errors

    seen: List[Dict[str, Any]] = []
    # An earlier test's network may still be on its way out: only this run's counts.
    earlier = {network.id for network in docker_client.networks.list(filters={"label": RUN_LABEL})}

    def watch() -> None:
        for _ in range(200):
            for network in docker_client.networks.list(filters={"label": RUN_LABEL}):
                if network.id in earlier:
                    continue
                try:
                    network.reload()
                except docker.errors.NotFound:
                    continue
                seen.append(network.attrs)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out = tmp_path / "out"
    body = ("b=/bin/busybox; [ $($b hostname) = algo-2 ] && exec $b sleep 2; "
            "for i in 1 2 3 4 5; do $b ping -c1 -W1 algo-2 > /opt/ml/processing/output/o/ping && exit 0; done; exit 9")
    result = harness(images.script, config_file, entrypoint=script(body), instance_count=2, network_isolation=True,
                     outputs=[("/opt/ml/processing/output/o", str(out))])
    watcher.join()
    assert result.findings == [], result.findings
    assert "1 packets received" in (out / "ping").read_text()
    assert seen and seen[0]["Internal"] is True
