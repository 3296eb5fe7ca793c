"""What every Dockerfile check receives: the parse, the stage model, settings, and derived facts
computed once per file (the RUN scripts of the final image, CUDA evidence)."""
from __future__ import annotations

import posixpath
import re
from functools import cached_property
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Tuple

from sm_lint.contract import SHELLS
from sm_lint.dockerfile import build_context, shell
from sm_lint.dockerfile.stages import Build, Copy, Stage, Step
from sm_lint.dockerfile.syntax import Heredoc, Instruction, ParsedDockerfile
from sm_lint.profiles import Profile
from sm_lint.profiles import get as get_profile

_SHEBANG_SHELL = re.compile(r"^#!\s*(?:/usr)?/bin/(?:env\s+)?(sh|bash|dash|ash|zsh|ksh)\b")


class Script(NamedTuple):
    """Shell code that a RUN executes at build time, with where its first line sits in the Dockerfile."""

    step: Step
    stage: Stage
    text: str
    first_line: int  # Dockerfile line of the script's first line
    joined: bool  # True when continuation lines were joined (line offsets are then approximate)
    mounts: Tuple[str, ...]  # RUN --mount targets: writes there do not persist in the image


class LintContext:
    def __init__(self, path: str, parsed: ParsedDockerfile, build: Optional[Build], gpu: str,
                 context_dir: Optional[Path], profile: Optional[Profile] = None) -> None:
        self.path = path
        self.parsed = parsed
        self.build = build
        self.gpu_mode = gpu  # "auto", "true" or "false"
        self.context_dir = context_dir
        self.profile = profile or get_profile()  # the SageMaker contract the image is checked against
        self._cuda_evidence: Optional[tuple] = None

    @cached_property
    def final(self) -> Optional[Stage]:
        return self.build.final if self.build else None

    @cached_property
    def lineage(self) -> List[Stage]:
        """The stages whose instructions end up in the final image (its FROM chain)."""
        return self.final.lineage() if self.final else []

    def final_steps(self) -> Iterator[Tuple[Stage, Step]]:
        for stage in self.lineage:
            for step in stage.steps:
                yield stage, step

    @cached_property
    def scripts(self) -> List[Script]:
        return [script for stage, step in self.final_steps() for script in run_scripts(stage, step)]

    @cached_property
    def packages(self) -> List[Tuple[Script, "shell.PackageInstall"]]:
        """Every package that a RUN of the final image installs, with the script that installs it."""
        return [(script, pkg) for script in self.scripts
                for pkg in shell.package_installs(script.text, script.step.vars)]

    def cuda_evidence(self) -> tuple:
        """(GPU evidence, toolkit evidence) of the final image, computed once (checks/cuda.py)."""
        if self._cuda_evidence is None:
            from sm_lint.dockerfile.checks.cuda import evidence
            self._cuda_evidence = evidence(self)
        return self._cuda_evidence

    def line_in(self, script: Script, offset: int, *needles: str) -> int:
        """The Dockerfile line of something found at `offset` in a script. Continuation lines were
        joined into one, so there the first source line mentioning a needle is the best answer."""
        if not script.joined:
            return script.first_line + offset
        ins = script.step.instruction
        for needle in needles:
            for number in range(ins.start_line, min(ins.end_line, len(self.parsed.lines)) + 1):
                if needle and needle in self.parsed.lines[number - 1]:
                    return number
        return ins.start_line

    def read_image_file(self, stage: Stage, path: str) -> Optional[Tuple[str, Copy]]:
        """The text of `path` in `stage`'s image when a COPY/ADD from the context or a heredoc put it there."""
        found = self.image_file_origin(stage, path)
        if found is None:
            return None
        source, copy = found
        if copy.heredoc is not None:
            return copy.heredoc.content, copy
        assert self.context_dir is not None
        # Inside the context root only, links resolved as BuildKit does (build_context.py).
        text = build_context.read_text(self.context_dir, source)
        return None if text is None else (text, copy)

    def image_file_origin(self, stage: Stage, path: str) -> Optional[Tuple[str, Copy]]:
        """Where `path` in `stage`'s image comes from: (its source in the build context, the COPY/ADD),
        or ("", the COPY) for a heredoc; None when the Dockerfile does not show it coming from either
        (an external image, a URL, no context). `check --fix` edits the source (SM105)."""
        copy = stage.source_of(path)
        seen = 0
        while copy is not None and seen < 16:  # follow COPY --from chains between stages
            seen += 1
            if copy.heredoc is not None:
                return "", copy
            source = copy.source
            if copy.into_dir:
                source = source.rstrip("/") + path[len(copy.destination.rstrip("/")):]
            elif copy.destination != path:  # a glob source (`COPY *.sh ./`): the match has the file's name
                source = posixpath.join(posixpath.dirname(source), posixpath.basename(path))
            if copy.from_stage is not None:
                stage, path = copy.from_stage, "/" + source.lstrip("/")
                copy = stage.source_of(path)
                continue
            if copy.from_ref is not None or self.context_dir is None or "://" in source:
                return None
            return source, copy
        return None


def is_shell(program: str) -> bool:
    return program.rsplit("/", 1)[-1] in SHELLS


def shebang_shell(text: str) -> Optional[str]:
    match = _SHEBANG_SHELL.match(text)
    return match.group(1) if match else None


def heredoc_first_lines(ins: Instruction) -> List[Tuple[Heredoc, int]]:
    """Each heredoc with the Dockerfile line of its first body line (bodies follow the instruction)."""
    total = sum(doc.content.count("\n") + 1 for doc in ins.heredocs)
    line = ins.end_line - total + 1
    placed = []
    for doc in ins.heredocs:
        placed.append((doc, line))
        line += doc.content.count("\n") + 1
    return placed


def run_scripts(stage: Stage, step: Step) -> List[Script]:
    """The shell code a RUN instruction executes: its shell-form text, `sh -c` argument, or heredoc body."""
    ins = step.instruction
    if ins.keyword != "RUN":
        return []
    mounts = tuple(_mount_targets(ins))
    if ins.json:
        argv = ins.value
        if len(argv) >= 3 and is_shell(argv[0]) and argv[1] == "-c":
            return [Script(step, stage, argv[2], ins.start_line, True, mounts)]
        return [Script(step, stage, " ".join(argv), ins.start_line, True, mounts)] if argv else []
    scripts = [Script(step, stage, ins.args, ins.start_line, ins.end_line > ins.start_line, mounts)]
    for doc, first in heredoc_first_lines(ins):
        if _runs_as_shell(ins.args, doc):
            scripts.append(Script(step, stage, doc.content, first, False, mounts))
    return scripts


def _runs_as_shell(args: str, doc: Heredoc) -> bool:
    """`RUN <<EOF` (the SHELL runs the body) or `RUN <<EOF bash`; not `RUN python3 <<EOF`."""
    words = args.split()
    rest = [w for w in words if not w.lstrip("0123456789").startswith("<<")]
    if not rest:
        return shebang_shell(doc.content) is not None or not doc.content.startswith("#!")
    return is_shell(rest[0]) and all(w.startswith("-") for w in rest[1:])


def _mount_targets(ins: Instruction) -> Iterator[str]:
    for flag in ins.flags:
        if flag.startswith("--mount="):
            for part in flag[len("--mount="):].split(","):
                key, _, value = part.partition("=")
                if key in ("target", "dst", "destination") and value:
                    yield value

