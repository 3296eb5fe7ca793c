"""The stage model: what each instruction sees (ARG/ENV/WORKDIR/SHELL), and what the final image holds.

Follows BuildKit's dispatcher (frontend/dockerfile/dockerfile2llb): global ARGs before the first FROM
are visible only to FROM lines unless redeclared in a stage; ENV wins over ARG of the same name;
`FROM <stage>` starts from that stage's ENV, WORKDIR, SHELL, ENTRYPOINT, CMD and files; ENTRYPOINT
clears a CMD inherited from the base unless this stage set CMD itself.
"""
from __future__ import annotations

import posixpath
import re
from collections import ChainMap
from fnmatch import fnmatchcase
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from sm_lint.dockerfile.lex import ExpansionError, expand
from sm_lint.dockerfile.paths import normalise
from sm_lint.dockerfile.syntax import Heredoc, Instruction, ParsedDockerfile

DEFAULT_SHELL = ("/bin/sh", "-c")
_GLOB = re.compile(r"[*?\[]")
_HEREDOC_WORD = re.compile(r"^<<-?(['\"]?)([^'\"]+)\1$")


class Command(NamedTuple):
    """An ENTRYPOINT or CMD as it will be stored in the image config."""

    instruction: Instruction
    stage: "Stage"  # the stage whose instruction set it (an earlier one when inherited)
    exec_form: bool
    argv: Tuple[str, ...]  # what Docker stores: exec items, or SHELL + [text] for shell form
    text: str  # the instruction's argument text


class Copy(NamedTuple):
    """A COPY/ADD source landing in the image, resolved lazily (the context is read only on demand)."""

    instruction: Instruction
    stage: "Stage"
    source: str  # as written (expanded); "" for heredocs
    destination: str  # absolute path of the file or, when `into_dir`, the folder it lands in
    into_dir: bool
    heredoc: Optional[Heredoc]
    from_stage: Optional["Stage"]  # COPY --from=<stage in this file>
    from_ref: Optional[str]  # the --from value (stage name, index or external image)


class Step(NamedTuple):
    """One instruction of a stage with the state it was dispatched in."""

    instruction: Instruction
    vars: Mapping[str, str]  # ARG and ENV in scope: what Docker expands this instruction's words with
    env: Mapping[str, str]  # ENV only: what a RUN, or the container at run time, sees besides ARGs
    workdir: str
    shell: Tuple[str, ...]


class Stage:
    """One build stage; mutable only while `build()` runs."""

    def __init__(self, index: int, name: Optional[str], instruction: Instruction, base: str,
                 parent: Optional["Stage"]) -> None:
        self.index = index
        self.name = name
        self.instruction = instruction  # the FROM line
        self.base = base  # the expanded image reference, or the parent stage's name
        self.parent = parent
        self.steps: List[Step] = []
        # Shared with the parent: ENV replaces the dict, never changes it (build() below).
        self.env: Dict[str, str] = parent.env if parent else {}
        self.workdir = parent.workdir if parent else "/"
        self.shell: Tuple[str, ...] = parent.shell if parent else DEFAULT_SHELL
        self.entrypoint: Optional[Command] = parent.entrypoint if parent else None
        self.cmd: Optional[Command] = parent.cmd if parent else None
        self.own_copies: List[Copy] = []  # this stage's COPY/ADD; `copies` adds the parents'
        self._copies: Optional[List[Copy]] = None

    @property
    def copies(self) -> List[Copy]:
        """Every COPY/ADD of this stage's FROM chain, oldest first; built on first use after
        build(), so that a long chain of stages costs linear, not quadratic, memory."""
        if self._copies is None:
            self._copies = [copy for stage in self.lineage() for copy in stage.own_copies]
        return self._copies

    @property
    def root(self) -> "Stage":
        """The first stage of this FROM chain: the one whose base is an external image."""
        stage = self
        while stage.parent is not None:
            stage = stage.parent
        return stage

    def lineage(self) -> List["Stage"]:
        """This stage and the stages it inherits from through FROM, oldest first."""
        chain: List[Stage] = []
        stage: Optional[Stage] = self
        while stage is not None:
            chain.append(stage)
            stage = stage.parent
        return chain[::-1]

    def source_of(self, path: str) -> Optional[Copy]:
        """The last COPY/ADD that put `path` into this stage's filesystem, if the Dockerfile shows one."""
        for copy in reversed(self.copies):
            if copy.into_dir:
                if path.startswith(copy.destination.rstrip("/") + "/"):
                    return copy
            elif copy.destination == path or (_GLOB.search(copy.destination) and posixpath.dirname(path) ==
                                              posixpath.dirname(copy.destination)
                                              and fnmatchcase(posixpath.basename(path), posixpath.basename(copy.destination))):
                return copy  # `COPY *.sh ./` lands each match under its own name
        return None

    def __repr__(self) -> str:
        return f"Stage({self.index}, {self.name!r}, base={self.base!r})"


# Each ARG/ENV snapshot is kept by the steps that see it; past this many entries copied in all, the
# file is not modelled (SM100) rather than taking gigabytes (50k alternating ENV/RUN lines would).
MAX_SCOPE_ENTRIES = 1_000_000


class Build(NamedTuple):
    stages: Tuple[Stage, ...]
    final: Stage
    global_args: Mapping[str, str]
    problems: Tuple[Tuple[int, str], ...]  # (line, message) for things Docker's dispatcher rejects


class BuildError(Exception):
    """The Dockerfile cannot be modelled at all (no FROM, unknown --target)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def build(parsed: ParsedDockerfile, build_args: Mapping[str, str], target: Optional[str] = None,
          platform: str = "linux/amd64") -> Build:
    """Walk the instructions once, the way BuildKit dispatches them, and model every stage."""
    escape = parsed.directives.escape
    problems: List[Tuple[int, str]] = []
    # BuildKit's automatic platform ARGs are in the global scope: FROM lines see them, a stage sees
    # one only after `ARG NAME` without a value (dockerfile2llb getPlatformArgs).
    global_args: Dict[str, str] = platform_args(platform)
    stages: List[Stage] = []
    by_name: Dict[str, Stage] = {}
    stage: Optional[Stage] = None
    args: Dict[str, str] = {}
    cmd_set = False
    scope_of: Tuple[object, object, Dict[str, str]] = (None, None, {})
    copied = 0  # ARG/ENV entries copied so far (bounded: MAX_SCOPE_ENTRIES)

    def word(text: str, scope: Mapping[str, str], line: int) -> str:
        try:
            return expand(text, scope, escape)
        except ExpansionError as error:
            problems.append((line, f"variable expansion failed: {error}"))
            return text

    for ins in parsed.instructions:
        line = ins.start_line
        if ins.keyword == "FROM":
            image, name = _from_parts(ins, problems)
            base = word(image, global_args, line)
            parent = by_name.get(base.lower())
            stage = Stage(len(stages), name, ins, base, parent)
            if name:
                if name in by_name:
                    problems.append((line, f"duplicate stage name {name!r}"))
                by_name[name] = stage
            stages.append(stage)
            args, cmd_set = {}, False
            continue
        if stage is None:
            if ins.keyword == "ARG":
                for key, value in _arg_items(ins):
                    if value is None:
                        if key in build_args:
                            global_args[key] = build_args[key]
                    else:
                        global_args[key] = build_args.get(key, word(value, global_args, line))
            continue  # other instructions before FROM are reported by the rejected-instructions check
        if args is not scope_of[0] or stage.env is not scope_of[1]:  # steps share an unchanged scope
            scope_of = (args, stage.env, {**args, **stage.env})
            copied += len(scope_of[2])
        scope = scope_of[2]
        stage.steps.append(Step(ins, scope, stage.env, stage.workdir, stage.shell))
        keyword = ins.keyword
        if copied > MAX_SCOPE_ENTRIES:
            raise BuildError(f"ARG/ENV scopes too large to model: every ARG or ENV copies the variables in "
                             f"scope, and this file makes over {MAX_SCOPE_ENTRIES:,} such copies "
                             "(redefining thousands of variables thousands of times)", line)
        if keyword == "ARG":
            args = dict(args)
            copied += len(args)
            for key, value in _arg_items(ins):
                if key in build_args:
                    args[key] = build_args[key]
                elif value is not None:
                    args[key] = word(value, scope, line)
                elif key in global_args:
                    args[key] = global_args[key]
        elif keyword == "ENV":
            stage.env = dict(stage.env)
            copied += len(stage.env)
            lookup = ChainMap(stage.env, args)  # ENV wins over ARG; sees this line's earlier pairs
            for key, value in _pairs(ins.value):
                stage.env[key] = word(value, lookup, line)
        elif keyword == "WORKDIR" and ins.value:
            stage.workdir = normalise(word(ins.value[0], scope, line), stage.workdir)
        elif keyword == "SHELL" and ins.json and ins.value:
            stage.shell = tuple(ins.value)
        elif keyword in ("ENTRYPOINT", "CMD"):
            argv = tuple(ins.value) if ins.json else stage.shell + (ins.args,)
            command = Command(ins, stage, ins.json, argv, ins.args)
            if keyword == "CMD":
                stage.cmd, cmd_set = command, True
            else:
                stage.entrypoint = command
                if not cmd_set:
                    stage.cmd = None
        elif keyword in ("COPY", "ADD"):
            stage.own_copies.extend(_copies(ins, stage, scope, by_name, stages, escape, problems))

    if not stages:
        raise BuildError("no FROM instruction: Docker needs at least one build stage", 1)
    final = stages[-1]
    if target is not None:
        found = by_name.get(target.lower())
        if found is None:
            raise BuildError(f"target stage {target!r} could not be found")
        final = found
    return Build(tuple(stages), final, global_args, tuple(problems))


def platform_args(platform: str, build_platform: str = "linux/amd64") -> Dict[str, str]:
    """BUILDPLATFORM, BUILDOS, ..., TARGETVARIANT for a target platform `os/arch[/variant]`. The build
    platform is taken as linux/amd64, that of the CI runners and of SageMaker's instances."""
    args: Dict[str, str] = {}
    for prefix, value in (("BUILD", build_platform), ("TARGET", platform)):
        os_name, _, rest = value.partition("/")
        arch, _, variant = rest.partition("/")
        args.update({f"{prefix}PLATFORM": value, f"{prefix}OS": os_name, f"{prefix}ARCH": arch,
                     f"{prefix}VARIANT": variant})
    return args


def _from_parts(ins: Instruction, problems: List[Tuple[int, str]]) -> Tuple[str, Optional[str]]:
    """FROM image [AS name], as BuildKit's parseFrom accepts it."""
    value = ins.value
    if len(value) == 3 and value[1].lower() == "as":
        name = value[2].lower()
        if not re.match(r"^[a-z][a-z0-9_.-]*$", name):
            problems.append((ins.start_line, f"invalid name for build stage: {value[2]!r}"))
        return value[0], name
    if len(value) != 1:
        problems.append((ins.start_line, "FROM requires one argument, or three: IMAGE AS NAME"))
    return (value[0] if value else ""), None


def _arg_items(ins: Instruction) -> List[Tuple[str, Optional[str]]]:
    items = []
    for item in ins.value:
        key, sep, value = item.partition("=")
        items.append((key, value if sep else None))
    return items


def _pairs(value: Tuple[str, ...]) -> List[Tuple[str, str]]:
    return [(value[i], value[i + 1]) for i in range(0, len(value) - 1, 2)]


def flag_value(ins: Instruction, name: str) -> Optional[str]:
    """The value of `--name=value` among the instruction's builder flags (the last one wins)."""
    found = None
    prefix = f"--{name}="
    for flag in ins.flags:
        if flag.startswith(prefix):
            found = flag[len(prefix):]
        elif flag == f"--{name}":
            found = "true"
    return found


def _copies(ins: Instruction, stage: Stage, scope: Mapping[str, str], by_name: Mapping[str, Stage],
            stages: List[Stage], escape: str, problems: List[Tuple[int, str]]) -> List[Copy]:
    words = list(ins.value)
    if len(words) < 2:
        return []
    from_ref = flag_value(ins, "from")
    from_stage = None
    if from_ref is not None:
        from_ref = _expand_quiet(from_ref, scope, escape)
        from_stage = by_name.get(from_ref.lower())
        if from_stage is None and from_ref.isdigit() and int(from_ref) < len(stages):
            from_stage = stages[int(from_ref)]
    heredocs = {doc.name: doc for doc in ins.heredocs}
    raw_dest = words[-1] if ins.json else _expand_quiet(words[-1], scope, escape)
    sources = words[:-1]
    # `.` and `..` name the (existing) working directory, so sources land inside it.
    into_dir = raw_dest.endswith("/") or raw_dest in (".", "..") or len(sources) > 1
    dest = normalise(raw_dest, stage.workdir)
    copies = []
    for source in sources:
        match = _HEREDOC_WORD.match(source)
        doc = heredocs.get(match.group(2)) if match else None
        if doc is not None:
            target = posixpath.join(dest, doc.name) if into_dir else dest
            copies.append(Copy(ins, stage, "", target, False, doc, None, None))
            continue
        expanded = source if ins.json else _expand_quiet(source, scope, escape)
        source_dir = expanded.endswith("/") or expanded in (".", "./") or not posixpath.basename(expanded)
        if into_dir and not source_dir and not _is_url(expanded):
            target = posixpath.join(dest, posixpath.basename(expanded.rstrip("/")))
            copies.append(Copy(ins, stage, expanded, target, False, None, from_stage, from_ref))
        else:
            # A folder copied into a folder, or a source whose shape we cannot know: lookups match by prefix.
            copies.append(Copy(ins, stage, expanded, dest, into_dir or source_dir, None, from_stage, from_ref))
    return copies


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "git@")) or source.endswith(".git")


def _expand_quiet(text: str, scope: Mapping[str, str], escape: str) -> str:
    try:
        return expand(text, scope, escape)
    except ExpansionError:
        return text
