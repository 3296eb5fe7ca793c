"""The GPU test double (tests/gpu_double/nvidia-container-runtime-hook), through the real Docker API
path: dockerd's `gpu` device driver runs the double as an OCI prestart hook, which fakes a host's
NVIDIA driver in the container. Also the double run by hand on a made-up bundle (no engine), and
the second engine without it, which refuses the same request as a host without NVIDIA's toolkit."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from docker_support import (GPU_DOUBLE_DIR, GPU_HOOK_NAME, NO_GPU_DRIVER, build_image, copy_image,
                            gpu_capable, gpu_request)

HOOK = GPU_DOUBLE_DIR / GPU_HOOK_NAME
BASE = "FROM scratch\nCOPY busybox /busybox\n"
UUID = re.compile(r"GPU-5a1e0000-0000-4000-8000-([0-9a-f]{12})")
LIST_LINE = re.compile(r"GPU (\d+): NVIDIA A10G \(UUID: (GPU-5a1e0000-0000-4000-8000-[0-9a-f]{12})\)")
REQUIREMENT = ("nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update "
               "your driver to a newer version, or use an earlier cuda container")
MISMATCH = "Failed to initialize NVML: Driver/library version mismatch"


def run(client, image_id: str, script: str, gpus: bool = True, request=None,
        environment: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
    """Runs `script` with busybox sh in a container (with `--gpus all` unless gpus=False) and
    returns its exit status and output. A failed start raises the SDK's APIError."""
    requests = [request or gpu_request()] if gpus else None
    container = client.containers.create(image_id, ["/busybox", "sh", "-c", script], device_requests=requests,
                                         environment=environment, network_mode="none")
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs(stdout=True, stderr=True).decode()
    finally:
        container.remove(force=True)


def start_error(client, image_id: str, environment: Optional[Dict[str, str]] = None) -> str:
    import docker.errors

    with pytest.raises(docker.errors.APIError) as caught:
        run(client, image_id, "/usr/bin/nvidia-smi -L", environment=environment)
    return str(caught.value)


# Through the engine -------------------------------------------------------------------------------

def test_nvidia_smi_lists_the_fake_gpus(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE)
    status, output = run(gpu_client, image_id, 'echo "visible=$NVIDIA_VISIBLE_DEVICES"; /usr/bin/nvidia-smi -L')
    assert status == 0, output
    lines = output.splitlines()
    assert lines[0] == "visible=all"  # dockerd's part: count=-1 means all
    gpus = [LIST_LINE.fullmatch(line) for line in lines[1:]]
    assert gpus and all(gpus), output
    for number, match in enumerate(gpus):  # host GPU h has the UUID ending in h as 12 hex digits
        assert match and match.group(1) == str(number) and match.group(2).endswith(f"{number:012x}")


def test_csv_query_and_summary(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE)
    calls = ["--query-gpu=index,name,uuid,driver_version,memory.total,count --format=csv",
             "--query-gpu 'memory.total, index' --format csv,noheader,nounits",
             "",
             "--query-gpu=temperature.gpu --format=csv",
             "-L --format=csv"]
    status, output = run(gpu_client, image_id, "".join(f"nvidia-smi {call}; echo \"<$?>\"; " for call in calls))
    assert status == 0, output
    blocks = [block.strip("\n").split("\n") for block in re.split(r"<(\d+)>", output)]
    full, _, values, _, summary, _, invalid, _, combination, _ = blocks[:10]
    assert blocks[1::2][:5] == [["0"], ["0"], ["0"], ["2"], ["2"]], output  # exit statuses
    assert full[0] == "index, name, uuid, driver_version, memory.total [MiB], count"
    count = len(full) - 1
    assert count >= 1
    assert full[1:] == [f"{n}, NVIDIA A10G, GPU-5a1e0000-0000-4000-8000-{n:012x}, 535.104.05, 23028 MiB, {count}"
                        for n in range(count)]
    assert values == [f"23028, {n}" for n in range(count)]
    for text in ("NVIDIA-SMI 535.104.05", "Driver Version: 535.104.05", "CUDA Version: 12.2"):
        assert text in "\n".join(summary)
    assert invalid == ['Field "temperature.gpu" is not a valid field to query.']
    assert combination == ["Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."]


def test_a_device_id_request_sees_that_gpu_only(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE)
    status, output = run(gpu_client, image_id, 'echo "$NVIDIA_VISIBLE_DEVICES"; /usr/bin/nvidia-smi -L',
                         request=gpu_request(device_ids=["0"]))
    assert (status, output) == (0, "0\nGPU 0: NVIDIA A10G (UUID: GPU-5a1e0000-0000-4000-8000-000000000000)\n")


def test_without_a_device_request_nothing_is_injected(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE)
    status, output = run(gpu_client, image_id, 'echo "[$NVIDIA_VISIBLE_DEVICES]"; /busybox ls -a /', gpus=False)
    assert status == 0, output
    assert output.splitlines()[0] == "[]"
    assert "usr" not in output.split() and ".sm-lint-gpu-double" not in output.split()
    status, output = run(gpu_client, image_id, "/busybox ls -a /")  # the same image with --gpus all
    assert status == 0 and {"usr", ".sm-lint-gpu-double"} <= set(output.split())


@pytest.mark.parametrize("bundled", [
    "COPY fake /usr/bin/nvidia-smi",
    'RUN ["/busybox", "sh", "-c", "/busybox mkdir -p /usr/lib/x86_64-linux-gnu && '
    '/busybox ln -s libnvidia-ml.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.104.05"]',
], ids=["nvidia-smi-file", "nvml-link"])
def test_an_image_that_bundles_the_driver_fails_to_start(gpu_client, bundled: str) -> None:
    image_id = build_image(gpu_client, f"{BASE}{bundled}\n", {"fake": "#!/busybox sh\necho baked in\n"})
    message = start_error(gpu_client, image_id)
    assert re.search(r"nvidia-container-cli: mount error: file creation failed: \S+/merged"
                     r"/usr/(bin/nvidia-smi|lib/x86_64-linux-gnu/libnvidia-ml\.so\.535\.104\.05): file exists", message), message


def test_a_symlinked_directory_is_refused_not_followed(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE + 'RUN ["/busybox", "sh", "-c", "/busybox mkdir /usr && '
                                              '/busybox ln -s /sm-lint-nowhere /usr/bin"]\n')
    message = start_error(gpu_client, image_id)
    assert re.search(r"mount error: \S+/merged/usr/bin: symbolic link in path", message), message


def test_cuda_requirement_newer_than_the_driver(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE + "ENV NVIDIA_REQUIRE_CUDA=cuda>=12.4\n")
    assert REQUIREMENT in start_error(gpu_client, image_id)
    status, output = run(gpu_client, image_id, "/usr/bin/nvidia-smi -L", environment={"NVIDIA_DISABLE_REQUIRE": "true"})
    assert status == 0 and LIST_LINE.match(output), output
    older = build_image(gpu_client, BASE + "ENV NVIDIA_REQUIRE_CUDA=cuda>=12.2\n")
    assert run(gpu_client, older, "/usr/bin/nvidia-smi -L")[0] == 0


def test_a_stale_nvml_in_the_image_makes_nvidia_smi_fail(gpu_client) -> None:
    image_id = build_image(gpu_client, BASE + "COPY stale /usr/lib64/libnvidia-ml.so.470.57.02\n",
                           {"stale": "not a library"})
    status, output = run(gpu_client, image_id, "/usr/bin/nvidia-smi -L; echo rc=$?; /usr/bin/nvidia-smi")
    assert (status, output) == (18, f"{MISMATCH}\nrc=18\n{MISMATCH}\n")


def test_a_restarted_container_starts_again(gpu_client) -> None:
    # The double writes files, not bind mounts: its own files of the first start must not count
    # as a bundled driver at the second.
    image_id = build_image(gpu_client, BASE)
    container = gpu_client.containers.create(image_id, ["/usr/bin/nvidia-smi", "-L"], device_requests=[gpu_request()],
                                             network_mode="none")
    try:
        for _ in range(2):
            container.start()
            assert container.wait(timeout=120)["StatusCode"] == 0
        assert container.logs().decode().count("GPU 0: NVIDIA A10G") == 2
    finally:
        container.remove(force=True)


def test_the_second_engine_has_no_gpu_driver(docker_client, engine_without_gpus: str) -> None:
    import docker
    import docker.errors

    image_id = build_image(docker_client, BASE)
    other = docker.DockerClient(base_url=engine_without_gpus, timeout=120)
    try:
        assert copy_image(docker_client, image_id, other) == image_id
        status, output = run(other, image_id, "echo plain", gpus=False)
        assert (status, output) == (0, "plain\n")
        with pytest.raises(docker.errors.APIError) as caught:
            run(other, image_id, "/usr/bin/nvidia-smi -L")
        assert f'{NO_GPU_DRIVER} "" with capabilities: [[gpu]]' in str(caught.value)
        assert gpu_capable(other) is False
    finally:
        other.close()


def test_the_main_engine_fakes_no_gpu(docker_client, gpu_client) -> None:
    """The double lives only in the throwaway GPU engine of this session (tests/docker_support.py):
    the machine's own engine, which outlives the tests, never shows a `--gpus` container a fake GPU
    (scripts/test.sh starts it without the double, and restarts one an older test.sh started with it)."""
    from docker_support import fakes_gpus

    assert fakes_gpus(gpu_client), "the GPU test engine should fake GPUs"
    assert not fakes_gpus(docker_client), ("the main Docker engine runs tests/gpu_double: any `sm-lint run "
                                           "--scenario gpu` on this machine would see a fake GPU")


def test_the_gpu_engine_is_gone_after_the_session(tmp_path: Path) -> None:
    """A child pytest session that uses the GPU engine leaves no dockerd with the double running."""
    test = tmp_path / "test_child.py"
    test.write_text("def test_uses_it(gpu_client):\n    assert gpu_client.ping()\n")
    before = _double_engines()
    here = Path(__file__).resolve().parent
    path = os.pathsep.join([str(here), str(here.parent / "src"), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "docker_support",
                           str(test)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert _double_engines() == before


def _double_engines() -> List[int]:
    """Pids of the dockerd processes on this machine with tests/gpu_double on their PATH."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "dockerd" and \
                    str(GPU_DOUBLE_DIR).encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return sorted(found)


# The double alone, on a made-up bundle --------------------------------------------------------------

def hook(tmp_path: Path, env: List[str], stdin: Optional[str] = None, count: str = "1",
         root: str = "rootfs") -> subprocess.CompletedProcess:
    (tmp_path / "rootfs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"root": {"path": root}, "process": {"env": env}}))
    return subprocess.run([sys.executable, str(HOOK), "prestart"], input=stdin or json.dumps({"bundle": str(tmp_path)}),
                          capture_output=True, text=True, env={"SM_LINT_GPU_DOUBLE_COUNT": count}, timeout=60)


@pytest.mark.parametrize("selection", [None, "", "void", "none"])
def test_no_visible_devices_means_nothing_done(tmp_path: Path, selection: Optional[str]) -> None:
    env = [] if selection is None else [f"NVIDIA_VISIBLE_DEVICES={selection}"]
    done = hook(tmp_path, env + ["NVIDIA_REQUIRE_CUDA=cuda>=99.0"])
    assert (done.returncode, done.stderr) == (0, "")
    assert list((tmp_path / "rootfs").iterdir()) == []


@pytest.mark.parametrize("env, message", [
    (["NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471"], REQUIREMENT),
    (["NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=nvidia,driver>=535,driver<536"], None),  # an alternative holds
    (["NVIDIA_REQUIRE_CUDA=cuda>=12.4", "NVIDIA_DISABLE_REQUIRE=1"], None),
    (["NVIDIA_REQUIRE_CUDA=cuda>=12.4", "NVIDIA_DISABLE_REQUIRE=yes"], REQUIREMENT),  # Go's ParseBool
    (["CUDA_VERSION=12.4.1"], REQUIREMENT),  # the legacy rule
    (["CUDA_VERSION=12.4.1", "NVIDIA_REQUIRE_CUDA=cuda>=12.0"], None),
    (["NVIDIA_REQUIRE_ARCH=arch>=9.0"], "nvidia-container-cli: requirement error: unsatisfied condition: arch>=9.0"),
    (["NVIDIA_REQUIRE_CUDA=cuda=>12.0"], "nvidia-container-cli: requirement error: invalid expression"),
])
def test_requirements_as_the_cli_evaluates_them(tmp_path: Path, env: List[str], message: Optional[str]) -> None:
    done = hook(tmp_path, ["NVIDIA_VISIBLE_DEVICES=all"] + env)
    if message is None:
        assert (done.returncode, done.stderr) == (0, "")
        assert (tmp_path / "rootfs/usr/bin/nvidia-smi").is_file()
    else:
        assert (done.returncode, done.stderr) == (1, message + "\n")
        assert list((tmp_path / "rootfs").iterdir()) == []  # checked before anything is written


def test_device_selection_and_count(tmp_path: Path) -> None:
    done = hook(tmp_path, ["NVIDIA_VISIBLE_DEVICES=GPU-5A1E0000-0000-4000-8000-000000000002,0"], count="3")
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "rootfs/usr/bin/nvidia-smi").read_text()
    assert script.startswith("#!/.sm-lint-gpu-double/busybox sh\n")
    assert "COUNT=2\n" in script
    assert UUID.findall(script) == ["000000000002", "000000000000"]  # container GPUs 0 and 1
    unknown = hook(tmp_path / "other", ["NVIDIA_VISIBLE_DEVICES=7"], count="3")
    assert (unknown.returncode, unknown.stderr) == (1, "nvidia-container-cli: device error: 7: unknown device\n")


@pytest.mark.parametrize("stdin", ["not json", "{}"])
def test_unexpected_input_is_one_line_and_exit_1(tmp_path: Path, stdin: str) -> None:
    done = hook(tmp_path, ["NVIDIA_VISIBLE_DEVICES=all"], stdin=stdin)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stderr.startswith("nvidia-container-runtime-hook")
