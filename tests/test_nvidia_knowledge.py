"""The GPU knowledge base (src/sm_lint/data/nvidia.toml): well formed, cited, rendered into the rule
pages, and true on what a real GPU host showed (tests/data/real-gpu, captured on an H200)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sm_lint import nvidia
from sm_lint.catalogue import Catalogue

REAL_GPU = Path(__file__).parent / "data" / "real-gpu"


def test_every_entry_is_cited_and_compiles() -> None:
    k = nvidia.knowledge()
    for entry in k["package"] + k["file"] + k["base"]:
        assert entry["source"].startswith("https://"), entry
        assert entry["kind"] in ("driver", "toolkit", "driver+toolkit", "gpu", "neither", "compat", "none"), entry
        for pattern in [*entry.get("names", ()), *entry.get("paths", ()), entry.get("repository", "")]:
            re.compile(pattern)


@pytest.mark.parametrize("rule", ["SM120", "SM121", "SM220", "SM221", "SM222"])
def test_rule_pages_render_the_tables(rule: str) -> None:
    page = Catalogue.load()[rule].document()
    assert "<!-- coverage" not in page
    assert "| where | names | source |" in page
    # every row a page asks for is there, with its source
    for section, kind in re.findall(r"<!-- coverage: (\w+) (\w+) -->", Catalogue.load()[rule].body):
        rows = nvidia.knowledge()[{"packages": "package", "files": "file", "bases": "base"}[section]]
        for entry in rows:
            if kind in entry["kind"].split("+"):
                assert entry["source"] in page, (rule, entry)


def _lines(name: str) -> list:
    return (REAL_GPU / name).read_text().split()


def test_the_driver_a_real_host_mounts_is_a_driver() -> None:
    """Every versioned library, program, kernel module and GSP firmware file of the H200 host's
    driver folder (what libnvidia-container mounts) is a driver file; its glibc, config files and
    unversioned development links are not."""
    paths = _lines("driver-folder.txt")
    versioned = [p for p in paths if re.search(r"/lib64/lib[^/]+\.so\.\d", p)]
    programs = [p for p in paths if "/bin/nvidia-" in p]
    modules = [p for p in paths if p.endswith(".ko")]
    firmware = [p for p in paths if p.endswith(".bin")]
    assert len(versioned) > 40 and len(programs) == 5 and len(modules) == 6 and len(firmware) == 2
    for path in versioned + programs + modules + firmware:
        assert nvidia.is_driver_file(path), path
    for path in paths:
        if "/glibc/" in path or "/etc/" in path or "/share/" in path or path.endswith((".so", "/version")):
            assert not nvidia.is_driver_file(path), path


def test_a_real_cuda_image_holds_the_toolkit_and_compat_but_no_driver_of_its_own() -> None:
    paths = _lines("gpu-host-files.txt")
    image_own = [p for p in paths if not p.startswith(("/usr/bin/", "/usr/lib/lib"))]  # the rest: the mounted driver
    assert not [p for p in image_own if nvidia.is_driver_file(p)]
    compat = [p for p in paths if "/compat/lib" in p and re.search(r"\.so\.\d", p)]
    assert compat and all(nvidia.is_compat_file(p) and not nvidia.is_driver_file(p) for p in compat)
    toolkit = {p for p in paths if nvidia.is_toolkit_file(p)}
    assert "/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13" in toolkit
    assert "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13" in toolkit
    assert "/opt/torch/.venv/lib/python3.12/site-packages/torchvision.libs/libcudart.faf08d9a.so.13" in toolkit
    assert not [p for p in toolkit if "/stubs/" in p or "/compat/" in p]
    # names that only look like the driver
    for path in ("/opt/nvidia/nsight-compute/2025.3.1/target/linux-desktop-glibc_2_11_3-x64/libcuda-injection.so",
                 "/usr/share/vulkan/icd.d/nvidia_icd.json", "/opt/nvidia/nvidia_entrypoint.sh",
                 "/usr/local/cuda-13.0/targets/x86_64-linux/lib/stubs/libnvidia-ml.so"):
        assert path in paths and not nvidia.is_driver_file(path)
    # the host's driver as the image's /usr/lib and /usr/bin show it
    mounted = [p for p in paths if p.startswith(("/usr/bin/nvidia-", "/usr/lib/lib")) and re.search(r"(\.so\.\d|/nvidia-)", p)]
    assert mounted and all(nvidia.is_driver_file(p) for p in mounted)


@pytest.mark.parametrize("reference, kind", [
    ("nvidia/cuda:12.2.0-base-ubuntu22.04", "toolkit"),
    ("nvcr.io/nvidia/cuda:13.0.2-devel-ubuntu24.04", "toolkit"),
    ("nvidia/cuda", "unknown"),
    ("nvidia/cuda:latest", "unknown"),
    ("pytorch/pytorch:2.1.0-cuda12.1-cudnn8-runtime", "toolkit"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.0.1-gpu-py310-cu118-ubuntu20.04-sagemaker", "toolkit"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.0.1-cpu-py310-ubuntu20.04-sagemaker", "none"),
    ("python:3.11-slim", "none"),
    ("public.ecr.aws/docker/library/python:3.12", "none"),
    ("mycorp/ml-base:7", "unknown"),
    ("", "unknown"),
])
def test_base_images(reference: str, kind: str) -> None:
    assert nvidia.BaseImage(reference).kind == kind
