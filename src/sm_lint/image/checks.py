"""SM2xx: checks of a built image's config and merged filesystem. Each yields `Hit`s with line 0
(the whole image); evidence lines name the files, their sizes and the layers that added them."""
from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint import contract, nvidia
from sm_lint.dockerfile.paths import under_opt_ml
from sm_lint.findings import Hit
from sm_lint.image.model import FileEntry, ImageView

EVIDENCE_LINES = 25  # a report lists this many files, then says how many more
_GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_REQUIRE_CUDA", "CUDA_VERSION")


class ImageContext(NamedTuple):
    view: ImageView
    gpu_mode: str  # "auto", "true" or "false"
    container_entrypoint: Tuple[str, ...] = ()
    container_arguments: Tuple[str, ...] = ()


def _created_by(view: ImageView, keyword: str) -> str:
    """The last history step that is the instruction `keyword` (ENTRYPOINT, CMD), for messages.

    The classic builder records `/bin/sh -c #(nop)  ENTRYPOINT [...]`, BuildKit `ENTRYPOINT [...]`;
    a step that merely mentions the word (`ENV ENTRYPOINT_SCRIPT=...`) is not it."""
    pattern = re.compile(rf"^(?:/bin/sh -c #\(nop\)\s+)?{keyword}\b")
    for entry in reversed(view.config.history):
        if pattern.match(entry.created_by.strip()):
            return f" (set by `{_short(entry.created_by)}`)"
    return ""


# The classic builder names COPY/ADD sources by content hash: `COPY file:<64 hex> in /dest`.
_CONTENT_HASH = re.compile(r"\b(file|dir|multi):[0-9a-f]{64}\s+in\s+")


def _short(text: str, limit: int = 100) -> str:
    text = _CONTENT_HASH.sub(r"(\1) to ", text.replace("/bin/sh -c #(nop) ", "").strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(view: ImageView, entry: FileEntry) -> str:
    layer = view.layers[entry.layer] if entry.layer < len(view.layers) else None
    made_by = f": {_short(layer.created_by, 80)}" if layer and layer.created_by else ""
    return f"{entry.path} ({_size(entry.size)}, layer {entry.layer}{made_by})"


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _evidence(view: ImageView, entries: Sequence[FileEntry]) -> Tuple[str, ...]:
    lines = [_describe(view, e) for e in entries[:EVIDENCE_LINES]]
    if len(entries) > EVIDENCE_LINES:
        lines.append(f"... and {len(entries) - EVIDENCE_LINES} more")
    return tuple(lines)


def _present(view: ImageView, wanted: Callable[[str], bool]) -> List[FileEntry]:
    """Non-directory entries of the final view whose path `wanted` accepts, by path."""
    return sorted((e for e in view.files.values() if e.kind != "dir" and wanted(e.path)), key=lambda e: e.path)


def shell_form_command(ctx: ImageContext) -> Iterator[Hit]:
    config = ctx.view.config
    if contract.is_shell_form(config.entrypoint, config.shell):
        assert config.entrypoint is not None
        yield Hit(0, f"the image's Entrypoint is shell form {list(config.entrypoint)!r}{_created_by(ctx.view, 'ENTRYPOINT')}: "
                     "ContainerArguments are silently dropped and the shell is PID 1, which ignores SIGINT",
                  fix="Rebuild with an exec-form ENTRYPOINT [\"program\", \"arg\"]")
    elif not config.entrypoint and contract.is_shell_form(config.cmd, config.shell):
        assert config.cmd is not None
        yield Hit(0, f"the image runs its Cmd in shell form {list(config.cmd)!r}{_created_by(ctx.view, 'CMD')}: "
                     "the shell is PID 1 and ignores SIGINT",
                  fix="Rebuild with an exec-form ENTRYPOINT or CMD")


def arguments_dropped(ctx: ImageContext) -> Iterator[Hit]:
    config = ctx.view.config
    resolved = contract.resolve(config.entrypoint, config.cmd, ctx.container_entrypoint,
                                ctx.container_arguments, config.shell)
    if resolved.dropped:
        yield Hit(0, f"ContainerArguments {list(resolved.dropped)!r} would be ignored: the shell-form Entrypoint "
                     f"{list(config.entrypoint or ())!r} does not pass them to the program",
                  fix="Rebuild with an exec-form ENTRYPOINT, or give ContainerEntrypoint in the job")


def nothing_to_run(ctx: ImageContext) -> Iterator[Hit]:
    config = ctx.view.config
    if not config.entrypoint and not config.cmd and not ctx.container_entrypoint:
        yield Hit(0, "the image has neither Entrypoint nor Cmd: a Processing job must give ContainerEntrypoint",
                  fix="Rebuild with ENTRYPOINT [\"program\"]")


def files_under_opt_ml(ctx: ImageContext) -> Iterator[Hit]:
    view = ctx.view
    found = _present(view, under_opt_ml)
    if found:
        total = sum(e.size for e in found)
        yield Hit(0, f"{len(found)} file{'s' if len(found) != 1 else ''} ({_size(total)}) under /opt/ml: SageMaker "
                     "mounts over /opt/ml at run time, so the job will not see them",
                  fix="Move them out of /opt/ml and rebuild", evidence=_evidence(view, found))


# What a driver file of each class does to a GPU job (data/nvidia.toml [[file]] classes).
_DRIVER_HARM = {
    "binary": "libnvidia-container mounts the host's copies over these paths at start-up, and a copy in the "
              "image can make that fail (`file exists`)",
    "library": "the host's driver libraries are mounted at start-up; a second copy in the image can be loaded "
               "instead and fail against the host's kernel module (`Driver/library version mismatch`)",
    "firmware": "GSP firmware belongs to the host's driver version, which libnvidia-container mounts",
    "kernel": "kernel modules and their sources belong to the host's kernel; a container cannot load them",
    "installer": "a driver installer has no use in a container: the host's driver is injected at run time",
}


def driver_files(ctx: ImageContext) -> Iterator[Hit]:
    view = ctx.view
    found = _present(view, nvidia.is_driver_file)
    if found:
        classes = sorted({nvidia.driver_file_class(e.path) or "" for e in found}, key=list(_DRIVER_HARM).index)
        harm = "; ".join(_DRIVER_HARM[c] for c in classes)
        yield Hit(0, f"NVIDIA driver files are in the image ({len(found)}: {', '.join(classes)}): {harm}",
                  fix="Remove the driver packages or files; install only the CUDA toolkit",
                  evidence=_evidence(view, found))


def compat_files(ctx: ImageContext) -> Iterator[Hit]:
    view = ctx.view
    found = _present(view, nvidia.is_compat_file)
    if found:
        yield Hit(0, "the image carries the CUDA forward-compatibility libraries (cuda-compat): sanctioned, "
                     "they are used only when the host driver is older than the CUDA version needs",
                  evidence=_evidence(view, found))


def gpu_without_toolkit(ctx: ImageContext) -> Iterator[Hit]:
    if ctx.gpu_mode == "false":
        return
    view = ctx.view
    if has_toolkit(view):
        return
    if ctx.gpu_mode == "true":
        why = "the image is for GPU (--gpu / gpu = true)"
    else:
        evidence = _gpu_evidence(view)
        if evidence is None:
            return
        why = f"the image looks like a GPU image ({evidence})"
    yield Hit(0, f"{why}, but it holds no CUDA toolkit or runtime: no libcudart.so.* or other CUDA library, "
                 "nothing under /usr/local/cuda*/lib*, no pip nvidia/*/lib wheels or conda CUDA packages",
              fix="Base the image on an nvidia/cuda image (-base, -runtime or -devel) or add CUDA wheels")


def _gpu_evidence(view: ImageView) -> Optional[str]:
    env = dict(view.config.env)
    for key in _GPU_ENV:
        if key in env:
            return f"ENV {key}={env[key]}"
    for key, value in view.config.labels:
        if key.startswith("com.nvidia."):
            return f"label {key}={value}"
    for entry in view.files.values():
        if nvidia.is_driver_file(entry.path):
            return f"driver file {entry.path}"
        distribution = _DIST_INFO.search(entry.path)
        if distribution:  # an installed wheel that marks a GPU build (cupy-cuda12x): the tables check uses
            found = nvidia.package_kind(distribution.group(1).lower().replace("_", "-"), "pip")
            if found is not None and found.kind == "gpu":
                return f"pip package {distribution.group(1)} ({entry.path.rsplit('/', 2)[-2]})"
    return None


_DIST_INFO = re.compile(r"/(?:site|dist)-packages/([A-Za-z0-9_.]+)-[^/-]+\.dist-info/METADATA$")


def has_toolkit(view: ImageView) -> bool:
    return any(nvidia.is_toolkit_file(path) for path in view.files)


def wrong_platform(ctx: ImageContext) -> Iterator[Hit]:
    config = ctx.view.config
    platform = f"{config.os}/{config.architecture}" + (f"/{config.variant}" if config.variant else "")
    if (config.os, config.architecture) != ("linux", "amd64"):
        offered = f"; the archive offers {', '.join(ctx.view.platforms)}" if ctx.view.platforms else ""
        yield Hit(0, f"the image is {platform}: SageMaker Processing instances are linux/amd64 (x86_64){offered}",
                  fix="Build for linux/amd64: docker buildx build --platform linux/amd64")


Check = Callable[[ImageContext], Iterable[Hit]]

CHECKS: Dict[str, Check] = {
    "SM201": shell_form_command,
    "SM202": arguments_dropped,
    "SM204": nothing_to_run,
    "SM210": files_under_opt_ml,
    "SM220": driver_files,
    "SM221": gpu_without_toolkit,
    "SM222": compat_files,
    "SM230": wrong_platform,
}


def run(ctx: ImageContext, skip: Iterable[str] = ()) -> List[Tuple[str, Hit]]:
    skipped = set(skip)
    return [(rule, hit) for rule, check in CHECKS.items() if rule not in skipped for hit in check(ctx)]
