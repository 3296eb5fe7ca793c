"""SM120-SM121: GPU images carry the CUDA toolkit and never the NVIDIA driver, which the host injects.

Source: SageMaker Developer Guide, "How Amazon SageMaker Processing Runs Your Processing Container
Image": "Include only the CUDA toolkit in containers. Don't bundle NVIDIA drivers with the image."
"""
from __future__ import annotations

from typing import Iterator, List, NamedTuple, Optional

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
    if ctx.gpu_mode == "true":
        why = "the image is for GPU (--gpu / gpu = true)"
    else:
        gpu = gpu_evidence(ctx)
        if not gpu:
            return
        why = f"the image looks like a GPU image ({gpu[0].what}, line {gpu[0].line})"
    if toolkit_evidence(ctx):
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


def gpu_evidence(ctx: LintContext) -> List[Evidence]:
    found: List[Evidence] = []
    root = ctx.final.root if ctx.final else None
    if root is not None and nvidia.BaseImage(root.base).is_gpu:
        found.append(Evidence(root.instruction.start_line, f"base image {root.base}"))
    for script, pkg in ctx.packages:
        line = ctx.line_in(script, pkg.line, pkg.package)
        if pkg.manager in SYSTEM_MANAGERS and (nvidia.is_driver_package(pkg.package) or
                                               nvidia.is_toolkit_package(pkg.package)):
            found.append(Evidence(line, f"{pkg.manager} installs {pkg.package}"))
        elif pkg.manager in PIP_MANAGERS and _pip_cuda(pkg):
            found.append(Evidence(line, f"pip installs the CUDA build {pkg.spec or pkg.package}"))
        elif pkg.manager in CONDA_MANAGERS and nvidia.is_conda_toolkit(_conda_name(pkg.package)):
            found.append(Evidence(line, f"{pkg.manager} installs {pkg.package}"))
    for stage in ctx.lineage:
        for step in stage.steps:
            if step.instruction.keyword == "ENV":
                keys = step.instruction.value[::2]
                hit = next((k for k in keys if k in _GPU_ENV), None)
                if hit:
                    found.append(Evidence(step.instruction.start_line, f"ENV {hit}"))
    return sorted(found)


def toolkit_evidence(ctx: LintContext) -> List[Evidence]:
    found: List[Evidence] = []
    root = ctx.final.root if ctx.final else None
    if root is not None and nvidia.BaseImage(root.base).provides_toolkit:
        found.append(Evidence(root.instruction.start_line, f"base image {root.base}"))
    for script, pkg in ctx.packages:
        line = ctx.line_in(script, pkg.line, pkg.package)
        if pkg.manager in SYSTEM_MANAGERS and nvidia.is_toolkit_package(pkg.package.split("=")[0]):
            found.append(Evidence(line, f"{pkg.manager} installs {pkg.package}"))
        elif pkg.manager in PIP_MANAGERS and (_pip_cuda(pkg) or _name(pkg.package) == "torch"):
            # Linux x86_64 torch wheels from PyPI depend on the nvidia-*-cu12 runtime wheels.
            if _name(pkg.package) != "torch" or not _cpu_index(pkg.index):
                found.append(Evidence(line, f"pip installs {pkg.spec or pkg.package}"))
        elif pkg.manager in CONDA_MANAGERS and nvidia.is_conda_toolkit(_conda_name(pkg.package)):
            found.append(Evidence(line, f"{pkg.manager} installs {pkg.package}"))
    for script in ctx.scripts:
        if any(nvidia.is_cuda_runfile(w.strip("\"'")) for w in script.text.split()) and "--toolkit" in script.text:
            found.append(Evidence(script.first_line, "the CUDA runfile installer with --toolkit"))
    if ctx.final is not None:
        for copy in ctx.final.copies:
            if "libcudart.so" in copy.source or copy.destination.startswith("/usr/local/cuda"):
                found.append(Evidence(copy.instruction.start_line, f"{copy.instruction.keyword} {copy.destination}"))
    return found


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
