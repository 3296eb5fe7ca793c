"""SM101-SM106: what the container runs, and whether it runs it the way the SageMaker contract (the profile) needs."""
from __future__ import annotations

import os
import posixpath
import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Iterator, List, Optional, Set, Tuple

from sm_lint import contract, profiles
from sm_lint.dockerfile import build_context, shell
from sm_lint.dockerfile.context import LintContext, is_shell, shebang_shell
from sm_lint.dockerfile.stages import Command, Copy, Stage, flag_value
from sm_lint.findings import Hit

if TYPE_CHECKING:
    from sm_lint import pid1

# `['a', 'b']`, `["a", "b",]`, `["a" "b"]`: an array of quoted items that json.Unmarshal rejects.
# Not `[ -f x ]` or `[ "$A" = b ]`, which are shell tests.
_LOOKS_JSON = re.compile(r"""^\[\s*(?:\]|(["'])(?:[^"'\\]|\\.)*\1\s*(?:[,\]"']|$))""")


def _origin(command: Command, ctx: LintContext) -> str:
    """' (inherited from stage "base")' when an earlier stage set it, else ''."""
    if ctx.final is not None and command.stage is not ctx.final:
        name = command.stage.name or str(command.stage.index)
        return f" (inherited from stage {name!r}, line {command.instruction.start_line})"
    return ""


def _looks_json(command: Optional[Command]) -> bool:
    return command is not None and not command.exec_form and bool(_LOOKS_JSON.match(command.text))


def shell_form_entrypoint(ctx: LintContext) -> Iterator[Hit]:
    ep = ctx.final.entrypoint if ctx.final else None
    if ep is None or ep.exec_form or _looks_json(ep):
        return
    shell_words = " ".join(ep.argv[:-1])
    extra = ""
    if ep.text.split(None, 1)[:1] == ["exec"]:
        extra = "; `exec` makes the program PID 1 but cannot bring the arguments back"
    stop = _stop_part(ep.argv, ctx)
    yield Hit(
        ep.instruction.start_line,
        f"ENTRYPOINT is in shell form{_origin(ep, ctx)}: Docker runs `{shell_words} \"{ep.text}\"`, so "
        f"ContainerArguments and CMD are silently dropped{extra}" + (f"; {stop}" if stop else ""),
        fix=_exec_form_fix("ENTRYPOINT", ep.text),
    )


def shell_form_cmd(ctx: LintContext) -> Iterator[Hit]:
    final = ctx.final
    if final is None or final.cmd is None or final.cmd.exec_form or _looks_json(final.cmd):
        return
    cmd, ep = final.cmd, final.entrypoint
    if ep is None or (ep.exec_form and not ep.argv):
        # ContainerArguments replace this CMD whole, so the stop signal is the only harm.
        stop = _stop_part(cmd.argv, ctx)
        if stop:
            yield Hit(cmd.instruction.start_line,
                      f"CMD is in shell form{_origin(cmd, ctx)} and is the command that runs: {stop}",
                      fix=_exec_form_fix("CMD", cmd.text))
    elif ep.exec_form:
        yield Hit(cmd.instruction.start_line,
                  f"CMD is in shell form{_origin(cmd, ctx)}, so the exec-form ENTRYPOINT receives "
                  f"{list(cmd.argv)!r} as its arguments",
                  fix=_exec_form_fix("CMD", cmd.text))


def _base_shell(ctx: LintContext) -> pid1.Shell:
    """/bin/sh of the final image as far as the Dockerfile shows it: from the external base image."""
    from sm_lint import pid1  # here, as in every function below: only a file with shell code to run loads it

    if ctx.final is None:
        return pid1.UNKNOWN
    base = ctx.final.root.base
    if base.lower() == "scratch":
        return pid1.Shell("", "the image is built FROM scratch")
    return pid1.base_image_shell(base)


def _stop_part(argv: Tuple[str, ...], ctx: LintContext) -> str:
    """What a shell-form command's shell does with the stop signal, as sure as it is known."""
    from sm_lint import pid1

    shell = pid1.shell_named(argv[0], _base_shell(ctx))
    signal = ctx.profile.stop_signal
    verdict = pid1.analyse(argv[-1], inline=True, shell=shell.name, signal=signal[3:])
    return pid1.stop_sentence(verdict, shell, signal, settle=_settle(ctx))


def _settle(ctx: LintContext) -> str:
    """The commands that settle a stop-signal verdict the Dockerfile leaves open, for the profile."""
    flag = f" --profile {ctx.profile.name}" if ctx.profile.name != profiles.DEFAULT else ""
    return f"`sm-lint check --image IMAGE{flag}` or `sm-lint run IMAGE{flag} --scenario stop` settles it"


def malformed_json_form(ctx: LintContext) -> Iterator[Hit]:
    for _, step in ctx.final_steps():
        ins = step.instruction
        if ins.keyword in ("ENTRYPOINT", "CMD", "RUN", "SHELL") and not ins.json and _LOOKS_JSON.match(ins.args):
            yield Hit(ins.start_line,
                      f"{ins.keyword} looks like exec form but is not a JSON array of double-quoted strings, "
                      f"so Docker runs it as shell form: `/bin/sh -c \"{ins.args}\"`",
                      fix=f"Write valid JSON: {ins.keyword} {_json_suggestion(ins.args)}")


def nothing_to_run(ctx: LintContext) -> Iterator[Hit]:
    final = ctx.final
    if final is None:
        return
    ep, cmd = final.entrypoint, final.cmd
    if (ep is not None and ep.argv) or (cmd is not None and cmd.argv):
        return
    root = final.root
    if root.base.lower() == "scratch":
        why = "the image is built FROM scratch, so nothing would run"
    else:
        why = (f"it may inherit them from the base image {root.base!r}, which this Dockerfile does not show; "
               "check the built image with `sm-lint inspect IMAGE`")
    yield Hit(final.instruction.start_line,
              f"the final stage sets no ENTRYPOINT or CMD: {why}. A Processing job must then give "
              "ContainerEntrypoint.",
              fix="Add an exec-form ENTRYPOINT, for example ENTRYPOINT [\"python3\", \"/app/process.py\"]")


def shell_stays_pid1(ctx: LintContext) -> Iterator[Hit]:
    final = ctx.final
    if final is None:
        return
    argv, setter = _effective_argv(final.entrypoint, final.cmd)
    if setter is None or not setter.exec_form or not argv or argv[0].rsplit("/", 1)[-1] in contract.INITS:
        return  # shell form is SM101/SM102's finding; an init forwards signals itself
    program = argv[0].rsplit("/", 1)[-1]
    if is_shell(program) and "-c" in argv[1:2] and len(argv) > 2:
        yield from _inline_script(argv, program, setter, ctx)
        return
    found = _entrypoint_script(argv, program, final, ctx)
    if found is None:
        return
    script_path, (text, copy) = found
    interpreter = program if is_shell(program) else shebang_shell(text)
    if interpreter is None:
        return
    from sm_lint import pid1

    shell = pid1.shell_named(interpreter, _base_shell(ctx))
    signal = ctx.profile.stop_signal
    verdict = pid1.analyse(text, inline=False, shell=shell.name, signal=signal[3:])
    stop = pid1.stop_sentence(verdict, shell, signal, settle=_settle(ctx))
    if not stop:
        return
    work = verdict.work
    where = f" on its line {work.line + 1}" if work is not None else ""
    yield Hit(setter.instruction.start_line,
              f"the entrypoint script {script_path} (from line {copy.instruction.start_line}) runs "
              f"`{pid1.words(work)}`{where} without `exec`: {stop}",
              fix=pid1.fix(verdict, script_file=True))


def _script_operand(argv: Tuple[str, ...]) -> Optional[str]:
    """The script a shell runs: its first operand after options (`bash -m start.sh`, `sh -e x.sh`)."""
    i = 1
    while i < len(argv) and argv[i].startswith(("-", "+")) and argv[i] not in ("-", "--"):
        i += 2 if argv[i] in ("-o", "+o", "-O", "+O") else 1
    if i < len(argv) and argv[i] == "--":
        i += 1
    return argv[i] if i < len(argv) else None


def _entrypoint_script(argv: Tuple[str, ...], program: str, final: Stage,
                       ctx: LintContext) -> Optional[Tuple[str, Tuple[str, Copy]]]:
    """Where the entrypoint script lands in the image and its text, when the Dockerfile put it there.

    A shell given a bare name looks in the working directory, then on PATH (bash(1): "if no file is
    found, then searches the directories in PATH"); Docker runs a bare argv[0] from PATH only."""
    name = _script_operand(argv) if is_shell(program) else argv[0]
    if not name:
        return None
    if "/" in name:
        places = [name if name.startswith("/") else posixpath.join(final.workdir, name)]
    else:
        # The image's PATH, then Docker's default: a base image's PATH is not in the Dockerfile
        # (`ENV PATH=/opt/conda/bin:$PATH` extends one that the base set).
        folders = final.env.get("PATH", "").split(":") + contract.DEFAULT_PATH.split(":")
        places = ([posixpath.join(final.workdir, name)] if is_shell(program) else []) + \
            [posixpath.join(folder, name) for folder in dict.fromkeys(folders) if folder.startswith("/")]
    for place in places:
        found = ctx.read_image_file(final, posixpath.normpath(place))
        if found is not None:
            return posixpath.normpath(place), found
    return None


def _inline_script(argv: Tuple[str, ...], program: str, setter: Command, ctx: LintContext) -> Iterator[Hit]:
    from sm_lint import pid1

    shell = pid1.shell_named(program, _base_shell(ctx))
    signal = ctx.profile.stop_signal
    verdict = pid1.analyse(argv[2], inline=True, shell=shell.name, signal=signal[3:])
    stop = pid1.stop_sentence(verdict, shell, signal, settle=_settle(ctx))
    if not stop:
        return
    yield Hit(setter.instruction.start_line,
              f"`{program} -c` runs `{pid1.words(verdict.work)}` without `exec`: {stop}",
              fix=pid1.fix(verdict) + ", or use the program as the exec-form ENTRYPOINT directly")


def _effective_argv(ep: Optional[Command], cmd: Optional[Command]) -> Tuple[Tuple[str, ...], Optional[Command]]:
    """ENTRYPOINT + CMD as Docker combines them, and the instruction that decides PID 1."""
    if ep is not None and ep.argv:
        if not ep.exec_form:
            return ep.argv, ep
        return ep.argv + (cmd.argv if cmd else ()), ep
    if cmd is not None:
        return cmd.argv, cmd
    return (), None


def _exec_form_fix(keyword: str, text: str) -> str:
    if _SHELL_SYNTAX.search(text):
        return (f"Move the shell code into a script that ends with `exec <program> \"$@\"` and use it as "
                f"the exec-form {keyword}")
    return f"Use exec form: {keyword} {_json_suggestion(text)}"


def _json_suggestion(text: str) -> str:
    words = _LOOSE_WORDS.findall(text.strip().strip("[]"))
    items = [w.strip().strip(",").strip().strip("'\"") for w in words]
    items = [item for item in items if item]
    if items and items[0] == "exec":
        items = items[1:]
    return "[" + ", ".join('"' + item.replace('"', '\\"') + '"' for item in items) + "]"


_SHELL_SYNTAX = re.compile(r"[;&|<>`]|\$[{(A-Za-z_]")
_LOOSE_WORDS = re.compile(r"""'[^']*'|"[^"]*"|[^\s,]+""")


def argument_not_taken(ctx: LintContext) -> Iterator[Hit]:
    """SM106: Training and hosting run `docker run IMAGE train|serve`. An exec-form ENTRYPOINT gets
    the word as its first argument; with no ENTRYPOINT, Docker runs the word itself from PATH (the
    argument replaces CMD); a shell-form ENTRYPOINT drops it."""
    final, profile = ctx.final, ctx.profile
    if final is None or not profile.argument:
        return
    name = profile.argument
    ep = final.entrypoint
    if ep is not None and ep.argv:
        if ep.exec_form:
            return  # the program receives `name` as $1: what it does with it, `sm-lint run --profile` shows
        stop = _stop_part(ep.argv, ctx)
        yield Hit(ep.instruction.start_line,
                  f"ENTRYPOINT is in shell form{_origin(ep, ctx)}: {profile.title} runs `{profile.command}`, and "
                  f"Docker runs `{' '.join(ep.argv[:-1])} \"{ep.text}\"`, so `{name}` never reaches the program"
                  + (f"; {stop}" if stop else ""),
                  fix=_exec_form_fix("ENTRYPOINT", ep.text))
        return
    folders = _path_folders(final)
    root = final.root
    seen, not_executable = _program_seen(ctx, name, folders)
    if seen or profiles.base_takes(root.base, name, entrypoint_kept=ep is None):
        return
    if not_executable:
        copy, placed, why = not_executable[0]
        unless = "" if root.base.lower() == "scratch" else f" unless the base image {root.base!r} has another on PATH"
        yield Hit(copy.instruction.start_line,
                  f"{profile.title} runs `{profile.command}`, and with no ENTRYPOINT Docker looks for an executable "
                  f"`{name}` on PATH: {copy.instruction.keyword} puts one at {placed}, but {why} and "
                  f"nothing in the Dockerfile makes it executable, so Docker passes over it and the container fails "
                  f"to start{unless} (exec: \"{name}\": executable file not found in $PATH)",
                  fix=f"Make it executable: {copy.instruction.keyword} --chmod=755 ..., `chmod +x` it in the "
                      f"repository (git update-index --chmod=+x), or RUN chmod +x on it")
        return
    where = ":".join(folders)
    line = (ep.instruction if ep is not None else final.instruction).start_line
    # The CMD a reader may take for the command: the argument replaces it.
    replaced = f"; the CMD {list(final.cmd.argv)!r} does not run: `{name}` replaces it" \
        if final.cmd is not None and final.cmd.argv else ""
    if root.base.lower() != "scratch":
        provides = f"an ENTRYPOINT or a `{name}` program" if ep is None else f"a `{name}` program"
        cleared = " sets no ENTRYPOINT and" if ep is None else "'s ENTRYPOINT [] clears the base image's, and it"
        yield Hit(line,
                  f"{profile.title} runs `{profile.command}`, and this Dockerfile{cleared} puts no executable "
                  f"`{name}` on PATH ({where}): the container may not start (unless the base image {root.base!r} "
                  f"provides {provides}, which the Dockerfile does not show){replaced}; check the built image "
                  f"with `sm-lint inspect IMAGE --profile {profile.name}`",
                  fix=_argument_fix(name, profile))
        return
    why = "ENTRYPOINT [] leaves no" if ep is not None else "the image is built FROM scratch and sets no"
    yield Hit(line,
              f"{profile.title} runs `{profile.command}`, but {why} ENTRYPOINT, so Docker looks for a program "
              f"`{name}` on PATH ({where}) and the Dockerfile puts none there: the container fails to start "
              f"(exec: \"{name}\": executable file not found in $PATH){replaced}",
              fix=_argument_fix(name, profile))


def _argument_fix(name: str, profile: "profiles.Profile") -> str:
    # Only a training job can replace the command (AlgorithmSpecification.ContainerEntrypoint);
    # hosting and batch transform always run `serve`.
    job = ", or give ContainerEntrypoint in the job's AlgorithmSpecification" if profile.name == "training" else ""
    return (f"Add an exec-form ENTRYPOINT that accepts `{name}` as its first argument, or COPY an executable "
            f"`{name}` into a folder on PATH (for example /usr/local/bin/{name}){job}")


def _path_folders(final: Stage) -> List[str]:
    """The folders Docker searches for a bare argv[0]: the image's PATH as the Dockerfile sets it,
    else Docker's default; with an external base image also the default, since the base's own PATH
    (which `ENV PATH=/opt/program:$PATH` extends) is not in the Dockerfile."""
    folders = [f.rstrip("/") or "/" for f in final.env.get("PATH", "").split(":") if f.startswith("/")]
    if not folders or final.root.base.lower() != "scratch":
        folders += contract.DEFAULT_PATH.split(":")
    return list(dict.fromkeys(folders))


def _program_seen(ctx: LintContext, name: str, folders: List[str]) -> Tuple[bool, List[Tuple[Copy, str, str]]]:
    """Whether the Dockerfile puts an executable `name` into one of `folders` (or may: a folder
    copied there whose files cannot be listed from here gets the benefit of the doubt), and the
    copies that put one there without the execute bit (with where and why), when that is all there is."""
    targets = {posixpath.join(folder, name) for folder in folders}
    not_executable: List[Tuple[Copy, str, str]] = []
    chmodded = _chmodded(ctx)
    for stage in ctx.lineage:
        for copy in stage.copies:
            placed = _copy_may_place(ctx, copy, targets)
            if placed is None:
                continue
            target, why = placed
            if why == "" or _chmod_flag_executes(copy) or _within(target, chmodded):
                return True, []
            not_executable.append((copy, target, why))
    for script in ctx.scripts:
        for write in shell.written_paths(script.text, script.step.vars, script.step.workdir):
            # a RUN that creates it, or chmods it: the build fails unless the file is there
            if write.path in targets and write.command not in ("chown", "chgrp"):
                return True, []
            # `ln -s /opt/program/serve /usr/local/bin/`, `cp serve /usr/local/bin`: the folder is the operand
            if write.path in folders and write.command in ("ln", "cp", "mv", "install") and \
                    re.search(rf"(?:^|[\s/]){re.escape(name)}(?:$|[\s;&|])", script.text, re.M):
                return True, []
    if any(name in profiles.programs(pkg.package, "--no-deps" not in script.text)
           for script, pkg in ctx.packages if pkg.manager == "pip"):
        return True, []
    return False, not_executable


def _chmodded(ctx: LintContext) -> List[str]:
    """Paths a RUN gives `chmod` (a folder with -R: everything under it; we do not read the mode)."""
    return [write.path for script in ctx.scripts
            for write in shell.written_paths(script.text, script.step.vars, script.step.workdir)
            if write.command == "chmod"]


def _within(path: str, folders: List[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def _chmod_flag_executes(copy: Copy) -> bool:
    """COPY/ADD --chmod=755 or --chmod=u+x: the file gets an execute bit."""
    mode = flag_value(copy.instruction, "chmod")
    if mode is None:
        return False
    try:
        return bool(int(mode, 8) & 0o111)
    except ValueError:
        return "x" in mode


def _copy_may_place(ctx: LintContext, copy: Copy, targets: Set[str]) -> Optional[Tuple[str, str]]:
    """None when `copy` puts none of `targets` in the image; else (the target it puts there, "" when
    that has the execute bit as far as can be known, or why it has not)."""
    destination = copy.destination.rstrip("/") or "/"
    for target in sorted(targets):
        why = _placed_why(ctx, copy, destination, target)
        if why is not None:
            return target, why
    return None


def _placed_why(ctx: LintContext, copy: Copy, destination: str, target: str) -> Optional[str]:
    """Whether `copy` (landing at `destination`) puts `target` in the image: None when not, "" when
    it does (or may) with the execute bit as far as can be known, else why it has none."""
    if destination == target:
        if copy.heredoc is not None:  # BuildKit writes an inline document with mode 0664
            return f"the heredoc {copy.heredoc.name} is written with mode 0664"
        return _mode_of(ctx, copy, copy.source, named=True)
    if copy.heredoc is not None:
        return None
    if _GLOB.search(posixpath.basename(destination)):
        # `COPY bin/* /usr/local/bin/`: each match lands under its own name
        if posixpath.dirname(destination) == posixpath.dirname(target) and \
                fnmatchcase(posixpath.basename(target), posixpath.basename(destination)):
            return _mode_of(ctx, copy, posixpath.join(posixpath.dirname(copy.source), posixpath.basename(target)))
        return None
    if target.startswith(destination.rstrip("/") + "/"):
        # a folder copied onto (or above) a PATH folder: its file at the same relative path, when the
        # folder is in the context to look into (else it may hold one)
        if copy.from_stage is None and copy.from_ref is None and ctx.context_dir is not None and \
                build_context.resolve(ctx.context_dir, copy.source.lstrip("/")) is None:
            return ""
        return _mode_of(ctx, copy, posixpath.join(copy.source, target[len(destination.rstrip("/")) + 1:]))
    return None


def _mode_of(ctx: LintContext, copy: Copy, source: str, named: bool = False) -> Optional[str]:
    """For a file COPYed from the build context: None when the context has no such file (when
    the destination itself is `named` so, it is there whatever the source: ""), "" when it is
    executable (COPY keeps the context's mode) or that cannot be known (no context, another stage
    or image, a URL), else why it is not."""
    if copy.from_stage is not None or copy.from_ref is not None or ctx.context_dir is None or "://" in source:
        return ""
    found = build_context.resolve(ctx.context_dir, source.lstrip("/"))
    if found is None or not os.path.isfile(found):
        return "" if named else None
    mode = os.stat(found).st_mode
    return "" if mode & 0o111 else f"{source.lstrip('/')} in the build context has mode {mode & 0o777:04o}"


_GLOB = re.compile(r"[*?\[]")
