"""What is an NVIDIA driver and what is the CUDA toolkit: names shared by the Dockerfile and image layers.

Sources: libnvidia-container src/nvc_info.c (the driver files injected from the host), NVIDIA's CUDA
installation guide (package meta names: `cuda`, `cuda-X-Y` and `cuda-drivers` pull the driver,
`cuda-toolkit-X-Y` does not; `cuda-compat-X-Y` is the forward-compatibility package), and the
nvidia/cuda image tags (base: cudart only; runtime: + CUDA math libraries and NCCL; devel: + headers, nvcc).
"""
from __future__ import annotations

import re
from typing import Optional

# Driver binaries and libraries that libnvidia-container mounts from the host into GPU containers.
DRIVER_BINARIES = frozenset({
    "nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nvidia-cuda-mps-control",
    "nvidia-cuda-mps-server",
})
_DRIVER_LIBRARY = re.compile(
    r"^(?:libcuda|libnvidia-[a-z0-9-]+|libcudadebugger|libnvcuvid|libnvoptix|libGLX_nvidia|libEGL_nvidia"
    r"|libGLESv[12]_(?:CM_)?nvidia|libvdpau_nvidia|libnvidia)\.so\.\d+(?:\.\d+)*$"
)
_KERNEL_MODULE = re.compile(r"^nvidia(?:[-_][a-z0-9_-]+)?\.ko(?:\.(?:xz|gz|zst))?$")
_DRIVER_INSTALLER = re.compile(r"^NVIDIA-Linux-[A-Za-z0-9_]+-[\d.]+(?:-[a-z]+)?\.run$")

# System package names that install the driver (apt, yum/dnf/microdnf, zypper, apk).
_DRIVER_PACKAGE = re.compile(
    r"^(?:nvidia-driver(?:-[\w.-]+)?|libnvidia-[a-z0-9]+-\d+(?:-server)?|nvidia-utils-\d+(?:-server)?"
    r"|nvidia-headless-(?:no-dkms-)?\d+(?:-server|-open)?|nvidia-dkms-\d+(?:-server|-open)?"
    r"|nvidia-kernel-(?:common|source|open)-\d+|cuda-drivers(?:-\d+)?|kmod-nvidia(?:-[\w.-]+)?"
    r"|xorg-x11-drv-nvidia(?:-[\w.-]+)?|nvidia-open(?:-\d+)?|nvidia-kmod(?:-[\w.-]+)?"
    r"|nvidia-(?:compute|compute-utils|gl|video)-g0\d|nvidia-open-driver-g0\d[\w.-]*"
    r"|cuda|cuda-\d+-\d+|cuda-runtime-\d+-\d+)$"
)
_TOOLKIT_PACKAGE = re.compile(
    r"^(?:cuda-toolkit(?:-\d+(?:-\d+)?)?|cuda-libraries(?:-dev)?-\d+-\d+|cuda-cudart(?:-dev)?-\d+-\d+"
    r"|cuda-nvcc-\d+-\d+|cuda-minimal-build-\d+-\d+|libcublas(?:-dev)?-\d+-\d+|libcudnn\d(?:-[\w-]+)?"
    r"|libnccl2|libnccl-dev|libcusparse(?:-dev)?-\d+-\d+|libcufft(?:-dev)?-\d+-\d+|nvidia-cuda-toolkit)$"
)
# conda: no conda channel ships the driver; these are toolkit.
_CONDA_TOOLKIT = re.compile(r"^(?:cudatoolkit|cuda-toolkit|cuda-runtime|cuda-libraries|cuda-cudart|cuda|"
                            r"cuda-nvcc|pytorch-cuda|cudnn|nccl|cuda-version)$")
# pip: CUDA runtime wheels that carry the libraries (site-packages/nvidia/*/lib) and CUDA builds.
_PIP_CUDA = re.compile(
    r"^(?:nvidia-[a-z0-9-]+-cu\d+|cupy-cuda\d+x?|onnxruntime-gpu|paddlepaddle-gpu|tensorflow-gpu"
    r"|jax-cuda\d+-(?:plugin|pjrt)|jaxlib-cuda\d+)$"
)
_PIP_CUDA_EXTRA = re.compile(r"^(?:jax\[cuda\d*[^\]]*\]|tensorflow\[and-cuda\])$", re.I)
_TORCH_CUDA = re.compile(r"\+cu\d+|/cu\d{2,3}\b|/whl/cu\d+")
_CUDA_RUNFILE = re.compile(r"^cuda_[\d.]+(?:_[\d.]+)?_linux(?:_[a-z0-9]+)?\.run$")


def is_driver_file(path: str) -> bool:
    """A driver binary, library or kernel module, not the sanctioned forward-compat copy or a link stub."""
    if "/compat/" in path or "/stubs/" in path:
        return False
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name in DRIVER_BINARIES or bool(_DRIVER_LIBRARY.match(name) or _KERNEL_MODULE.match(name))


def is_compat_file(path: str) -> bool:
    return "/compat/" in path and bool(_DRIVER_LIBRARY.match(path.rsplit("/", 1)[-1]))


def is_driver_installer(word: str) -> bool:
    return bool(_DRIVER_INSTALLER.match(word.rsplit("/", 1)[-1]))


def is_cuda_runfile(word: str) -> bool:
    return bool(_CUDA_RUNFILE.match(word.rsplit("/", 1)[-1]))


def is_driver_package(name: str) -> bool:
    return bool(_DRIVER_PACKAGE.match(name.lower()))


def is_toolkit_package(name: str) -> bool:
    return bool(_TOOLKIT_PACKAGE.match(name.lower()))


def is_conda_toolkit(name: str) -> bool:
    return bool(_CONDA_TOOLKIT.match(name.lower().split("::")[-1]))


def is_pip_cuda(name: str) -> bool:
    return bool(_PIP_CUDA.match(name.lower()) or _PIP_CUDA_EXTRA.match(name))


def is_torch_cuda(spec: str, index: Optional[str]) -> bool:
    """A CUDA build of torch: `torch==2.1.0+cu121`, or installed from a cuXXX wheel index."""
    return bool(_TORCH_CUDA.search(spec) or (index and _TORCH_CUDA.search(index)))


class BaseImage:
    """What a well-known base image name says about CUDA: `toolkit` and `gpu` evidence."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        lowered = reference.lower()
        repo, _, tag = lowered.rpartition(":") if ":" in lowered.rsplit("/", 1)[-1] else (lowered, "", "")
        self.repository = repo.split("@")[0]
        self.tag = tag
        self.flavour = self._flavour()

    def _flavour(self) -> Optional[str]:
        repo, tag = self.repository, self.tag
        if repo in ("nvidia/cuda", "nvcr.io/nvidia/cuda", "docker.io/nvidia/cuda"):
            for flavour in ("devel", "runtime", "base"):
                if f"-{flavour}" in tag or tag.startswith(flavour):
                    return "cuda-base" if flavour == "base" else "cuda-toolkit"
            return "cuda-unknown"
        if repo.startswith("nvcr.io/nvidia/"):
            return "cuda-toolkit"  # NGC framework images (pytorch, tensorflow, tritonserver) ship CUDA
        if repo.endswith("pytorch/pytorch") and "cuda" in tag:
            return "cuda-toolkit"
        if repo.endswith("tensorflow/tensorflow") and "gpu" in tag:
            return "cuda-toolkit"
        if ".dkr.ecr." in repo and ("-gpu" in tag or re.search(r"\bcu\d{3}\b", tag)):
            return "cuda-toolkit"  # AWS Deep Learning Containers tag GPU builds with gpu / cuXXX
        return None

    @property
    def provides_toolkit(self) -> bool:
        return self.flavour == "cuda-toolkit"

    @property
    def is_gpu(self) -> bool:
        return self.flavour is not None
