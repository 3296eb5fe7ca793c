"""SM120-SM121: GPU images carry the CUDA toolkit and never the NVIDIA driver, which the host injects.

Source: SageMaker Developer Guide, "How Amazon SageMaker Processing Runs Your Processing Container
Image": "Include only the CUDA toolkit in containers. Don't bundle NVIDIA drivers with the image."
"""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional, Tuple

from sm_lint import nvidia
from sm_lint.dockerfile import shell
from sm_lint.dockerfile.context import LintContext
from sm_lint.findings import Hit

SYSTEM_MANAGERS = frozenset({"apt", "apt-get", "yum", "dnf", "microdnf", "zypper", "apk", "dpkg", "rpm"})
CONDA_MANAGERS = frozenset({"conda", "mamba", "micromamba"})
PIP_MANAGERS = frozenset({"pip"})
_GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_REQUIRE_CUDA", "CUDA_VERSION")


class Evidence(NamedTuple):
    line: int
    what: str


def driver_bundled(ctx: LintContext) -> Iterator[Hit]:
    fix = "Install only the CUDA toolkit (for example cuda-toolkit-12-2 or an nvidia/cuda -runtime base image)"
    for script, pkg in ctx.packages:
        if pkg.manager in SYSTEM_MANAGERS and nvidia.is_driver_package(pkg.package.split("=")[0]):
            yield Hit(ctx.line_in(script, pkg.line, pkg.package),
                      f"{pkg.manager} installs {pkg.package}, which is or pulls in the NVIDIA driver: the host's "
                      "driver is injected at run time and a bundled one breaks GPU start-up", fix=fix)
    for script in ctx.scripts:
        if ".run" not in script.text:
            continue
        for word in script.text.split():
            name = word.strip("\"';&|()")
            if nvidia.is_driver_installer(name):
                yield Hit(script.first_line, f"RUN uses the NVIDIA driver installer {name}", fix=fix)
                break
            if nvidia.is_cuda_runfile(name) and "--driver" in script.text:
                yield Hit(script.first_line, f"RUN installs the driver from the CUDA runfile {name} (--driver)",
                          fix="Run the CUDA runfile with --toolkit only")
                break
    if ctx.final is None:
        return
    for copy in ctx.final.copies:
        landed = copy.destination
        if copy.into_dir and copy.source:
            landed = landed.rstrip("/") + "/" + copy.source.rstrip("/").rsplit("/", 1)[-1]
        if nvidia.is_driver_installer(landed):
            yield Hit(copy.instruction.start_line, f"{copy.instruction.keyword} adds the NVIDIA driver installer "
                      f"{copy.source}", fix=fix)
        elif nvidia.is_driver_file(landed):
            yield Hit(copy.instruction.start_line,
                      f"{copy.instruction.keyword} puts the NVIDIA driver file {landed} into the image: "
                      "libnvidia-container then fails with `file exists` when it mounts the host's driver",
                      fix="Remove it; the host's driver is mounted into GPU containers at run time")


def gpu_without_toolkit(ctx: LintContext) -> Iterator[Hit]:
    if ctx.final is None or ctx.gpu_mode == "false":
        return
    gpu, toolkit = _evidence(ctx)
    if toolkit:
        return
    if ctx.gpu_mode == "true":
        why = "the image is for GPU (--gpu / gpu = true)"
    elif gpu:
        why = f"the image looks like a GPU image ({gpu[0].what}, line {gpu[0].line})"
    else:
        return
    root = ctx.final.root
    base = nvidia.BaseImage(root.base)
    if base.flavour == "cuda-base":
        detail = (f"the base image {root.base} is the -base flavour, which has only the CUDA runtime "
                  "(libcudart), not the CUDA libraries (cuBLAS, cuFFT, NCCL...) that frameworks load")
    elif root.base.lower() == "scratch" or base.flavour is not None:
        detail = "nothing in the Dockerfile installs it"
    else:
        detail = (f"the Dockerfile installs none and the base image {root.base} is not a known CUDA image; "
                  "if the base carries it, `sm-lint inspect IMAGE` can confirm it on the built image")
    yield Hit(ctx.final.instruction.start_line, f"{why}, but it has no CUDA toolkit: {detail}",
              fix="Start FROM an nvidia/cuda -runtime or -devel image, or install cuda-toolkit-X-Y or CUDA wheels")


def _evidence(ctx: LintContext) -> Tuple[List[Evidence], List[Evidence]]:
    """One pass over the final image: what says "GPU image", and what says "CUDA toolkit"."""
    gpu: List[Evidence] = []
    toolkit: List[Evidence] = []
    root = ctx.final.root if ctx.final else None
    if root is not None:
        base = nvidia.BaseImage(root.base)
        if base.is_gpu:
            gpu.append(Evidence(root.instruction.start_line, f"base image {root.base}"))
        if base.provides_toolkit:
            toolkit.append(Evidence(root.instruction.start_line, f"base image {root.base}"))
    for script, pkg in ctx.packages:
        says_gpu, says_toolkit = _package_says(pkg)
        if says_gpu or says_toolkit:
            evidence = Evidence(ctx.line_in(script, pkg.line, pkg.package),
                                f"{pkg.manager} installs {pkg.spec or pkg.package}")
            if says_gpu:
                gpu.append(evidence)
            if says_toolkit:
                toolkit.append(evidence)
    for stage in ctx.lineage:
        for step in stage.steps:
            if step.instruction.keyword == "ENV":
                hit = next((k for k in step.instruction.value[::2] if k in _GPU_ENV), None)
                if hit:
                    gpu.append(Evidence(step.instruction.start_line, f"ENV {hit}"))
    for script in ctx.scripts:
        if ".run" in script.text and "--toolkit" in script.text and any(
                nvidia.is_cuda_runfile(w.strip("\"'")) for w in script.text.split()):
            toolkit.append(Evidence(script.first_line, "the CUDA runfile installer with --toolkit"))
    if ctx.final is not None:
        for copy in ctx.final.copies:
            if "libcudart.so" in copy.source or copy.destination.startswith("/usr/local/cuda"):
                toolkit.append(Evidence(copy.instruction.start_line, f"{copy.instruction.keyword} {copy.destination}"))
    return sorted(gpu), toolkit


def _package_says(pkg: shell.PackageInstall) -> Tuple[bool, bool]:
    """(is GPU evidence, is toolkit evidence) for one installed package."""
    if pkg.manager in SYSTEM_MANAGERS:
        name = pkg.package.split("=")[0]
        toolkit = nvidia.is_toolkit_package(name)
        return toolkit or nvidia.is_driver_package(name), toolkit
    if pkg.manager in CONDA_MANAGERS:
        cuda = nvidia.is_conda_toolkit(_conda_name(pkg.package))
        return cuda, cuda
    if pkg.manager in PIP_MANAGERS:
        if _pip_cuda(pkg):
            return True, True
        # Linux x86_64 torch wheels from PyPI depend on the nvidia-*-cu12 runtime wheels, but a
        # plain `pip install torch` says nothing about whether the image is meant for GPUs.
        return False, _name(pkg.package) == "torch" and not _cpu_index(pkg.index)
    return False, False


def _name(package: str) -> str:
    for stop in "=<>!~[;@ ":
        package = package.split(stop)[0]
    return package.lower().replace("_", "-")


def _conda_name(package: str) -> str:
    return _name(package.split("::")[-1])


def _pip_cuda(pkg: shell.PackageInstall) -> bool:
    name = _name(pkg.package)
    if name in ("torch", "torchvision", "torchaudio"):
        return nvidia.is_torch_cuda(pkg.spec or pkg.package, pkg.index)
    return nvidia.is_pip_cuda(name) or nvidia.is_pip_cuda((pkg.spec or "").split("==")[0])


def _cpu_index(index: Optional[str]) -> bool:
    return bool(index and "/cpu" in index)
