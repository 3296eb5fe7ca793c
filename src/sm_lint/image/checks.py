"""SM2xx: checks of a built image's config and merged filesystem. Each yields `Hit`s with line 0
(the whole image); evidence lines name the files, their sizes and the layers that added them."""
from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint import contract, nvidia, pid1
from sm_lint.findings import Hit
from sm_lint.image.model import FileEntry, ImageView
from sm_lint.profiles import Profile
from sm_lint.profiles import get as get_profile

EVIDENCE_LINES = 25  # a report lists this many files, then says how many more


class ImageContext(NamedTuple):
    view: ImageView
    gpu_mode: str  # "auto", "true" or "false"
    container_entrypoint: Tuple[str, ...] = ()
    container_arguments: Tuple[str, ...] = ()
    profile: Optional[Profile] = None  # the SageMaker contract (None: processing)

    @property
    def contract(self) -> Profile:
        return self.profile or get_profile()


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
        stop, evidence = _shell_stop(ctx, config.entrypoint)
        yield Hit(0, f"the image's Entrypoint runs its command through a shell, {list(config.entrypoint)!r}"
                     f"{_created_by(ctx.view, 'ENTRYPOINT')}: ContainerArguments never reach the program"
                     f"{_dollar_zero(config.entrypoint[-1])}" + (f"; {stop}" if stop else ""),
                  fix="Rebuild with an exec-form ENTRYPOINT [\"program\", \"arg\"]", evidence=evidence)
    elif not config.entrypoint and contract.is_shell_form(config.cmd, config.shell):
        assert config.cmd is not None
        stop, evidence = _shell_stop(ctx, config.cmd)
        if stop:  # ContainerArguments replace a Cmd whole: the stop signal is the only harm
            yield Hit(0, f"the image runs its Cmd through a shell, {list(config.cmd)!r}"
                         f"{_created_by(ctx.view, 'CMD')}: {stop}",
                      fix="Rebuild with an exec-form ENTRYPOINT or CMD", evidence=evidence)


def _dollar_zero(script: str) -> str:
    if re.search(r"\$(?:@|\*|\{?[1-9@*])", script):
        return " as its arguments (`sh -c` makes the first one $0, which \"$@\" leaves out)"
    return " (`sh -c` gives them to the code as $0, $1, ..., which it does not use)"


def _shell_stop(ctx: ImageContext, argv: Sequence[str]) -> Tuple[str, Tuple[str, ...]]:
    """The stop-signal sentence for a `sh -c` command of the image, and the evidence line
    naming which shell /bin/sh is in this image."""
    shell = pid1.shell_named(argv[0], _sh(ctx.view))
    signal = ctx.contract.stop_signal
    verdict = pid1.analyse(argv[-1], inline=True, shell=shell.name, signal=signal[3:])
    stop = pid1.stop_sentence(verdict, shell, signal, settle=_settle(ctx.view, ctx.profile))
    return stop, ((f"{shell.how}: {shell.name}",) if stop and shell.known and shell.how else ())


def _sh(view: ImageView) -> "pid1.Shell":
    return pid1.image_shell(view.files, view.shells)


def _settle(view: ImageView, profile: Optional[Profile] = None) -> str:
    image = view.reference or view.source
    flag = f" --profile {profile.name}" if profile is not None and profile.name != "processing" else ""
    return f"`sm-lint run {image}{flag} --scenario stop` settles it"


_SHEBANG = re.compile(r"#!\s*(\S+)(?:[ \t]+(\S+))?")


def entrypoint_script(ctx: ImageContext) -> Iterator[Hit]:
    """SM203: the command that runs is a shell script in the image that leaves the shell as PID 1."""
    view = ctx.view
    config = view.config
    argv = contract.resolve(config.entrypoint, config.cmd, ctx.container_entrypoint, ctx.container_arguments,
                            config.shell).argv
    if not argv or contract.is_shell_form(argv, config.shell):
        return  # nothing runs, or `sh -c` (SM201)
    program = argv[0].rsplit("/", 1)[-1]
    if program in contract.INITS:
        return  # an init forwards signals itself
    if program in contract.SHELLS or program == "busybox":
        rest = argv[2:] if program == "busybox" and argv[1:2] in (["sh"], ["ash"]) else argv[1:]
        if not rest or rest[0].startswith("-"):
            return  # `sh -c ...` with options first, `sh` alone: not a script file
        script, interpreter = rest[0], argv[0] if program != "busybox" else "ash"
    else:
        script, interpreter = argv[0], ""
    path = _find(view, script)
    text = view.scripts.get(path) if path else None
    if text is None:
        return
    if not interpreter:
        match = _SHEBANG.match(text)
        if match is None:
            return
        interpreter = match.group(2) if match.group(1).endswith("/env") and match.group(2) else match.group(1)
        if match.group(1).rsplit("/", 1)[-1] == "busybox" and match.group(2) in ("sh", "ash"):
            interpreter = "ash"
    name = interpreter.rsplit("/", 1)[-1]
    if name not in contract.SHELLS:
        return
    shell = pid1.shell_named(name, _sh(view)) if name != "sh" or interpreter in ("sh", "/bin/sh") else \
        pid1.image_shell(view.files, view.shells, interpreter)
    signal = ctx.contract.stop_signal
    verdict = pid1.analyse(text, inline=False, shell=shell.name, signal=signal[3:])
    stop = pid1.stop_sentence(verdict, shell, signal, settle=_settle(view, ctx.profile))
    if not stop:
        return
    work = verdict.work
    where = f" on its line {work.line + 1}" if work is not None else ""
    entry = view.files.get(path)
    yield Hit(0, f"the entrypoint script {path} runs `{pid1.words(work)}`{where} without `exec`: {stop}",
              fix=pid1.fix(verdict, script_file=True) + " and rebuild",
              evidence=(_describe(view, entry),) if entry is not None else ())


def _find(view: ImageView, program: str) -> str:
    """Where `program` (argv[0] or a script argument) is in the image: absolute, relative to the
    working directory, or looked up on PATH; symlinks followed. "" when it is not there."""
    if "/" in program:
        candidates = [program if program.startswith("/") else (view.config.working_dir or "/").rstrip("/") + "/" + program]
    else:
        path_var = dict(view.config.env).get("PATH", contract.DEFAULT_PATH)
        candidates = [folder.rstrip("/") + "/" + program for folder in path_var.split(":") if folder.startswith("/")]
    for candidate in candidates:
        resolved, entry = pid1.resolve(view.files, candidate)
        if entry is not None and entry.kind == "file":
            return resolved
    return ""


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


def argument_not_taken(ctx: ImageContext) -> Iterator[Hit]:
    """SM206: training and hosting start `docker run IMAGE train|serve`: an exec-form Entrypoint
    receives the word; without one, Docker runs the word from PATH (it replaces Cmd); a shell-form
    Entrypoint drops it."""
    profile = ctx.contract
    if not profile.argument or ctx.container_entrypoint:
        return
    name = profile.argument
    config = ctx.view.config
    if config.entrypoint:
        if contract.is_shell_form(config.entrypoint, config.shell):
            stop, evidence = _shell_stop(ctx, config.entrypoint)
            yield Hit(0, f"{profile.title} runs `{profile.command}`, but the image's Entrypoint runs its command "
                         f"through a shell, {list(config.entrypoint)!r}{_created_by(ctx.view, 'ENTRYPOINT')}, so "
                         f"`{name}` never reaches the program" + (f"; {stop}" if stop else ""),
                      fix=f"Rebuild with an exec-form ENTRYPOINT [\"program\", \"arg\"] that accepts `{name}`",
                      evidence=evidence)
        return
    found = _find(ctx.view, name)
    mode = ctx.view.modes.get(found, -1) if found else -1
    if found and (mode < 0 or mode & 0o111):
        return  # there, and executable as far as the layers say
    path_var = dict(config.env).get("PATH")
    if found:
        entry = ctx.view.files.get(found)
        yield Hit(0, f"{profile.title} runs `{profile.command}`, and the image has no Entrypoint, so Docker looks for "
                     f"an executable `{name}` on PATH: {found} is there but has mode {mode:04o}, no execute bit, so "
                     f"Docker passes over it and the container fails to start (exec: \"{name}\": executable file "
                     "not found in $PATH)",
                  fix=f"Rebuild with `{name}` executable (COPY --chmod=755, or RUN chmod +x {found})",
                  evidence=(_describe(ctx.view, entry),) if entry is not None else ())
        return
    where = f"PATH={path_var}" if path_var is not None else f"Docker's default PATH={contract.DEFAULT_PATH}"
    replaced = f" in place of the Cmd {list(config.cmd)!r}" if config.cmd else ""
    yield Hit(0, f"{profile.title} runs `{profile.command}`, and the image has no Entrypoint, so Docker runs "
                 f"`{name}` from PATH{replaced}, but no folder of {where} holds a file named `{name}`: the "
                 f"container fails to start (exec: \"{name}\": executable file not found in $PATH)",
              fix=f"Rebuild with an exec-form ENTRYPOINT that accepts `{name}`, or an executable `{name}` in a "
                  "folder on PATH" + (", or give ContainerEntrypoint in the job's AlgorithmSpecification"
                                      if profile.name == "training" else ""))


def files_under_opt_ml(ctx: ImageContext) -> Iterator[Hit]:
    view = ctx.view
    profile = ctx.contract
    found = _present(view, profile.hides)
    if not found:
        return
    total = sum(e.size for e in found)
    count = f"{len(found)} file{'s' if len(found) != 1 else ''} ({_size(total)})"
    if profile.name == "processing":
        yield Hit(0, f"{count} under /opt/ml: SageMaker mounts over /opt/ml at run time, so the job will not see them",
                  fix="Move them out of /opt/ml and rebuild", evidence=_evidence(view, found))
        return
    mounts = sorted({profile.hidden_by(e.path) or "" for e in found})
    yield Hit(0, f"{count} under {', '.join(mounts)}: {profile.title} mounts over {', '.join(mounts)} at start, so "
                 "the container will not see them",
              fix=f"Move them out of {', '.join(mounts)} and rebuild", evidence=_evidence(view, found))


def driver_files(ctx: ImageContext) -> Iterator[Hit]:
    view = ctx.view
    found = _present(view, nvidia.is_driver_file)
    if found:
        classes = sorted({nvidia.driver_file_class(e.path) or "" for e in found})
        harm = "; ".join(nvidia.driver_harm(c) for c in classes)
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
    for key in nvidia.GPU_ENV:
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
        offered = _on_offer(ctx.view, platform)
        if ctx.contract.name == "inference" and (config.os, config.architecture) == ("linux", "arm64"):
            # Real-time endpoints also offer Graviton (arm64) instance types.
            yield Hit(0, f"the image is {platform}: an endpoint runs it only on Graviton instance types (ml.c6g, "
                         f"ml.c7g, ml.m6g, ml.r6g and the like); every other instance type is linux/amd64{offered}",
                      fix="Deploy it on a Graviton instance type, or build for linux/amd64: "
                          "docker buildx build --platform linux/amd64")
            return
        yield Hit(0, f"the image is {platform}: {ctx.contract.title} instances are linux/amd64 (x86_64){offered}",
                  fix="Build for linux/amd64: docker buildx build --platform linux/amd64")


def _on_offer(view: ImageView, platform: str) -> str:
    """What else the source offers, said of the place the image came from (SM230's tail): the
    platforms when there are others (so `--platform` or a rebuild is the fix), else that there is
    none. Nothing when the source says nothing (a legacy `docker save` lists no platforms)."""
    if not view.platforms or not view.platforms_from:
        return ""
    others = [p for p in view.platforms if p != platform]
    if view.platforms_from == "manifest":
        return "; the reference names a single-platform manifest, not an index with other platforms"
    holder = {"archive": "the archive", "engine": "the engine's copy of the image",
              "index": "the registry's index"}.get(view.platforms_from, "the source")
    if others:
        return f"; {holder} offers {', '.join(view.platforms)}"
    return f"; {holder} holds no other platform"


Check = Callable[[ImageContext], Iterable[Hit]]

CHECKS: Dict[str, Check] = {
    "SM201": shell_form_command,
    "SM202": arguments_dropped,
    "SM203": entrypoint_script,
    "SM204": nothing_to_run,
    "SM206": argument_not_taken,
    "SM210": files_under_opt_ml,
    "SM220": driver_files,
    "SM221": gpu_without_toolkit,
    "SM222": compat_files,
    "SM230": wrong_platform,
}


def run(ctx: ImageContext, skip: Iterable[str] = ()) -> List[Tuple[str, Hit]]:
    skipped = set(skip)
    return [(rule, hit) for rule, check in CHECKS.items() if rule not in skipped for hit in check(ctx)]
