"""The GPU scenario: start the image with every GPU requested (`docker run --gpus all`, SDK
`DeviceRequest(count=-1, capabilities=[["gpu"]])`) and `nvidia-smi` as the command, as a GPU
instance's NVIDIA runtime would, and compare the GPUs seen with what the instance type has.

The host driver (nvidia-smi, libcuda, libnvidia-ml) is injected at start by libnvidia-container;
the failure signatures recognised are libnvidia-container's and NVML's own texts (design.md §1).
"""
from __future__ import annotations

import re
from typing import List, NamedTuple, Optional, Tuple

from sm_lint.findings import Hit
from sm_lint.harness.gpus import gpu_count
from sm_lint.harness.job import NO_GPU_DRIVER, Job, Limits
from sm_lint.harness.lifecycle import Session
from sm_lint.harness.outcome import Outcome
from sm_lint.harness.plan import JobPlan

QUERY = ["--query-gpu=index,name,uuid,driver_version", "--format=csv,noheader"]
RUN_TIMEOUT = 120.0
FILE_EXISTS = re.compile(r"file creation failed: (\S+?): file exists")
CUDA_REQUIREMENT = re.compile(r"unsatisfied condition: (cuda\s*>=\s*[\d.]+)")
NVML_MISMATCH = "Driver/library version mismatch"
NO_NVIDIA_SMI = re.compile(r"executable file not found|no such file or directory", re.I)
FIX_DRIVER = "remove the driver from the image (nvidia-utils, libnvidia-compute, cuda-drivers, the `cuda` meta package); keep the CUDA toolkit only"


class Gpu(NamedTuple):
    index: str
    name: str
    uuid: str
    driver: str


def run(session: Session, plan: JobPlan, limits: Limits, expect_gpus: Optional[int], require_gpu: bool) -> Outcome:
    expected = expect_gpus if expect_gpus is not None else gpu_count(plan.instance_type)
    gpu_plan = plan._replace(hosts=plan.hosts[:1], entrypoint=["nvidia-smi"], arguments=list(QUERY))
    job = Job(session, gpu_plan, "gpu", limits, gpus=True, gpu_fallback=False)
    facts: List[Tuple[str, str]] = [("GPUs expected", expected_words(expected, plan.instance_type, expect_gpus))]
    failure = job.launch()
    if failure is not None:
        return start_failure(failure.message, facts, require_gpu)
    ended = job.wait(RUN_TIMEOUT)
    output = job.log_tail("algo-1", 200)
    if not ended:
        job.signal("SIGKILL")
        return Outcome("gpu", [("SM320", Hit(0, f"nvidia-smi did not finish within {RUN_TIMEOUT:g} s",
                                             evidence=tuple(output)))], facts)
    return judge_exit(job.exits["algo-1"].code, output, facts, expected, plan.instance_type, expect_gpus)


def judge_exit(code: int, output: List[str], facts: List[Tuple[str, str]], expected: Optional[int],
               instance_type: str, expect_gpus: Optional[int]) -> Outcome:
    """The verdict on nvidia-smi's exit status and output, wherever it ran (an engine, a SageMaker
    job): NVML's mismatch is SM321, no nvidia-smi or no GPU listed SM320."""
    if code == 18 or any(NVML_MISMATCH in line for line in output):
        return Outcome("gpu", [("SM321", Hit(
            0, "nvidia-smi fails with \"Driver/library version mismatch\" (exit 18): the image carries its own "
               "libnvidia-ml, which shadows the host driver's", fix=FIX_DRIVER, evidence=tuple(output)))], facts)
    if code == 127 or (code != 0 and any(NO_NVIDIA_SMI.search(line) for line in output)):
        return Outcome("gpu", [("SM320", Hit(0, "nvidia-smi was not injected into the container: the engine's "
                                                "NVIDIA runtime did not provide the driver", evidence=tuple(output)))], facts)
    if code != 0:
        return Outcome("gpu", [("SM320", Hit(0, f"nvidia-smi exited with code {code}: no GPU is usable",
                                             evidence=tuple(output)))], facts)
    gpus = parse_query(output)
    for gpu in gpus:
        facts.append((f"GPU {gpu.index}", f"{gpu.name}, {gpu.uuid}, driver {gpu.driver}"))
    if not gpus:
        return Outcome("gpu", [("SM320", Hit(0, "nvidia-smi lists no GPU", evidence=tuple(output)))], facts)
    if expected and len(gpus) < expected:
        return Outcome("gpu", [("SM320", Hit(
            0, f"{len(gpus)} of the {expected} GPUs of {_source(instance_type, expect_gpus)} are visible",
            fix="check NVIDIA_VISIBLE_DEVICES in the image (it must not narrow the GPUs), or --expect-gpus",
            evidence=tuple(output)))], facts)
    return Outcome("gpu", [], facts)


def parse_query(lines: List[str]) -> List[Gpu]:
    gpus = []
    for line in lines:
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == 4 and fields[0].isdigit():
            gpus.append(Gpu(*fields))
    return gpus


def start_failure(message: str, facts: List[Tuple[str, str]], require_gpu: bool) -> Outcome:
    if NO_GPU_DRIVER in message:
        reason = "this engine cannot provide GPUs (no NVIDIA container runtime: " + message + ")"
        if require_gpu:
            return Outcome("gpu", [("SM320", Hit(0, f"--require-gpu, but {reason}",
                                                 fix="run on a GPU host with the NVIDIA Container Toolkit "
                                                     "(DOCKER_HOST=ssh://gpu-host)"))], facts)
        return Outcome("gpu", [], facts, skipped=reason)
    exists = FILE_EXISTS.search(message)
    if exists:
        path = exists.group(1)
        inside = path.split("/merged", 1)[-1] if "/merged/" in path else path
        return Outcome("gpu", [("SM321", Hit(
            0, f"the container cannot start with GPUs: the image already has {inside}, a file the NVIDIA "
               "runtime injects from the host driver (\"file exists\")", fix=FIX_DRIVER, evidence=(message,)))], facts)
    requirement = CUDA_REQUIREMENT.search(message)
    if requirement:
        return Outcome("gpu", [("SM320", Hit(
            0, f"the NVIDIA runtime refuses to start the container: the image requires {requirement.group(1)} "
               "(NVIDIA_REQUIRE_CUDA), more than this host's driver supports",
            fix="use a CUDA version that the SageMaker GPU hosts' driver supports, or the cuda-compat package",
            evidence=(message,)))], facts)
    if NO_NVIDIA_SMI.search(message):
        return Outcome("gpu", [("SM320", Hit(0, "nvidia-smi was not injected into the container: the engine's "
                                                "NVIDIA runtime did not provide the driver", evidence=(message,)))], facts)
    return Outcome("gpu", [("SM320", Hit(0, f"the container cannot start with GPUs: {message}"))], facts)


def _source(instance_type: str, expect_gpus: Optional[int]) -> str:
    return "--expect-gpus" if expect_gpus is not None else instance_type


def expected_words(expected: Optional[int], instance_type: str, expect_gpus: Optional[int]) -> str:
    if expected is None:
        return f"unknown for {instance_type} (give --expect-gpus): at least 1"
    return f"{expected} ({_source(instance_type, expect_gpus)})"
