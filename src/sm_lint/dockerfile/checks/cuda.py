"""SM120-SM122: GPU images carry the CUDA toolkit and never the NVIDIA driver, which the host injects.

Source: SageMaker Developer Guide, "How Amazon SageMaker Processing Runs Your Processing Container
Image": "Include only the CUDA toolkit in containers. Don't bundle NVIDIA drivers with the image."
What is a driver and what is the toolkit comes from data/nvidia.toml (sm_lint.nvidia), which the
image layer reads too, so `check` and `inspect` cannot disagree about a package and its files.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator, List, NamedTuple, Optional, Tuple

from sm_lint import nvidia
from sm_lint.dockerfile import shell
from sm_lint.dockerfile.context import LintContext, Script
from sm_lint.findings import Hit

_FIX = "Install only the CUDA toolkit (for example cuda-toolkit-12-2 or an nvidia/cuda -runtime base image)"


class Evidence(NamedTuple):
    line: int
    what: str


def driver_bundled(ctx: LintContext) -> Iterator[Hit]:
    for script, pkg in ctx.packages:
        found = _kind(pkg)
        if found is None or not found.driver:
            continue
        what = (f"which names the NVIDIA driver package {found.name}" if found.guessed
                else "which is or pulls in the NVIDIA driver")
        yield Hit(ctx.line_in(script, pkg.line, pkg.package),
                  f"{pkg.manager} installs {pkg.spec or pkg.package}, {what}: the host's driver is injected at "
                  "run time and a bundled one breaks GPU start-up", fix=_FIX)
    for script in ctx.scripts:
        yield from _installers(ctx, script)
    if ctx.final is None:
        return
    for copy in ctx.final.copies:
        landed = copy.destination
        if copy.into_dir and copy.source:
            landed = landed.rstrip("/") + "/" + copy.source.rstrip("/").rsplit("/", 1)[-1]
        kind = nvidia.driver_file_class(landed)
        if kind == "installer" or nvidia.is_driver_installer(copy.source):
            yield Hit(copy.instruction.start_line, f"{copy.instruction.keyword} adds the NVIDIA driver installer "
                      f"{copy.source}", fix=_FIX)
        elif kind is not None:
            yield Hit(copy.instruction.start_line,
                      f"{copy.instruction.keyword} puts the NVIDIA driver file {landed} ({kind}) into the image: "
                      f"{nvidia.driver_harm(kind)}",
                      fix="Remove it; the host's driver is mounted into GPU containers at run time")


def _installers(ctx: LintContext, script: Script) -> Iterator[Hit]:
    """The driver's .run installer, or the CUDA runfile told `--driver`, named in a RUN (variables expanded)."""
    words = _words(script)
    texts = {word.text for word in words}
    for word in words:
        name = word.text.split("?", 1)[0].split("#", 1)[0]
        if nvidia.is_driver_installer(name):
            yield Hit(ctx.line_in(script, word.line, name.rsplit("/", 1)[-1]),
                      f"RUN uses the NVIDIA driver installer {name.rsplit('/', 1)[-1]}", fix=_FIX)
            return
        if nvidia.is_cuda_runfile(name) and "--driver" in texts:
            yield Hit(ctx.line_in(script, word.line, "--driver"),
                      f"RUN installs the driver from the CUDA runfile {name.rsplit('/', 1)[-1]} (--driver)",
                      fix="Run the CUDA runfile with --toolkit only")
            return


def _words(script: Script) -> List[shell.Word]:
    if ".run" not in script.text and "$" not in script.text:
        return []  # the installers are .run files, named literally or by a variable
    return shell.mentioned_words(script.text, script.step.vars)


def gpu_without_toolkit(ctx: LintContext) -> Iterator[Hit]:
    """SM121: a GPU image whose base is known to carry no CUDA and that installs none."""
    found = _missing_toolkit(ctx)
    if found is not None and found[1].known:
        why, base = found
        source = "the image is built FROM scratch" if base.reference.lower() == "scratch" else (
            f"the base image {base.reference} carries none")
        yield Hit(ctx.final.instruction.start_line,  # type: ignore[union-attr]
                  f"{why}, but it has no CUDA toolkit: nothing in the Dockerfile installs it and {source}",
                  fix="Start FROM an nvidia/cuda image (-base, -runtime or -devel), or install cuda-toolkit-X-Y "
                      "or CUDA wheels")


def toolkit_unseen(ctx: LintContext) -> Iterator[Hit]:
    """SM122: a GPU image whose base image may or may not carry CUDA: only the built image can say."""
    found = _missing_toolkit(ctx)
    if found is not None and not found[1].known:
        why, base = found
        yield Hit(ctx.final.instruction.start_line,  # type: ignore[union-attr]
                  f"{why}; nothing in the Dockerfile installs the CUDA toolkit, and the base image "
                  f"{base.reference or '(unset)'} may or may not carry it: `sm-lint check --image IMAGE` or "
                  "`sm-lint inspect IMAGE` settles it on the built image",
                  fix="Check the built image, or start FROM an nvidia/cuda image")


def _missing_toolkit(ctx: LintContext) -> Optional[Tuple[str, nvidia.BaseImage]]:
    """(why the image is a GPU image, its base) when it is one and the Dockerfile shows no toolkit."""
    if ctx.final is None or ctx.gpu_mode == "false":
        return None
    gpu, toolkit = ctx.cuda_evidence()
    if toolkit:
        return None
    if ctx.gpu_mode == "true":
        why = "the image is for GPU (--gpu / gpu = true)"
    elif gpu:
        why = f"the image looks like a GPU image ({gpu[0].what}, line {gpu[0].line})"
    else:
        return None
    return why, nvidia.BaseImage(ctx.final.root.base)


def evidence(ctx: LintContext) -> Tuple[List[Evidence], List[Evidence]]:
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
            found = Evidence(ctx.line_in(script, pkg.line, pkg.package), f"{pkg.manager} installs {pkg.spec or pkg.package}")
            if says_gpu:
                gpu.append(found)
            if says_toolkit:
                toolkit.append(found)
    for stage in ctx.lineage:
        for step in stage.steps:
            if step.instruction.keyword == "ENV":
                hit = next((k for k in step.instruction.value[::2] if k in nvidia.GPU_ENV), None)
                if hit:
                    gpu.append(Evidence(step.instruction.start_line, f"ENV {hit}"))
    for script in ctx.scripts:
        words = _words(script)
        if any(w.text == "--toolkit" for w in words) and any(nvidia.is_cuda_runfile(w.text) for w in words):
            toolkit.append(Evidence(script.first_line, "the CUDA runfile installer with --toolkit"))
        installer = next((w for w in words if nvidia.is_driver_installer(w.text.split("?", 1)[0])), None)
        if installer is not None:  # a driver installed: the image is meant for GPUs, as with driver packages
            gpu.append(Evidence(ctx.line_in(script, installer.line, "NVIDIA-Linux"), "the NVIDIA driver installer"))
    if ctx.final is not None:
        for copy in ctx.final.copies:
            if nvidia.is_toolkit_file(copy.source) or copy.destination.startswith("/usr/local/cuda"):
                toolkit.append(Evidence(copy.instruction.start_line, f"{copy.instruction.keyword} {copy.destination}"))
    return sorted(gpu), toolkit


def _kind(pkg: shell.PackageInstall) -> Optional[nvidia.PackageKind]:
    return _classify(pkg.manager, pkg.package, pkg.spec)


@lru_cache(maxsize=4096)  # SM120 and the CUDA evidence ask about every package; batches repeat names
def _classify(manager: str, package: str, spec: Optional[str]) -> Optional[nvidia.PackageKind]:
    if manager == "pip":
        return nvidia.package_kind(_name(package), "pip") or nvidia.package_kind(_requirement(spec), "pip")
    if manager in nvidia.MANAGER_GROUPS["conda"]:
        return nvidia.package_kind(_name(package.split("::")[-1]), manager)
    return nvidia.package_kind(package, manager)


def _package_says(pkg: shell.PackageInstall) -> Tuple[bool, bool]:
    """(is GPU evidence, is toolkit evidence) for one installed package."""
    if pkg.manager == "pip" and nvidia.is_torch(_name(pkg.package)):
        spec = pkg.spec or pkg.package
        if nvidia.is_torch_cuda(spec, pkg.index):
            return True, True
        # Linux x86_64 torch wheels from PyPI depend on the nvidia-*-cu12 runtime wheels, but a
        # plain `pip install torch` says nothing about whether the image is meant for GPUs.
        return False, _name(pkg.package) == "torch" and not nvidia.is_torch_cpu(spec, pkg.index)
    found = _kind(pkg)
    if found is None or found.kind == "neither":
        return False, False
    return True, found.toolkit


def _name(package: str) -> str:
    for stop in "=<>!~[;@ ":
        package = package.split(stop)[0]
    return package.lower().replace("_", "-")


def _requirement(spec: Optional[str]) -> str:
    """`jax[cuda12]>=0.4` -> `jax[cuda12]`: the name with its extras, for the wheel tables."""
    spec = (spec or "").strip().lower()
    start, end = spec.find("["), spec.find("]")
    if start > 0:
        spec = spec[:start].replace("_", "-") + spec[start:]
    cut = end + 1 if end >= 0 else len(spec)
    for stop in "=<>!~;@ ":
        found = spec.find(stop, cut)
        if found >= 0:
            spec = spec[:found]
    return spec
