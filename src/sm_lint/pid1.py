"""What PID 1 does with the stop signal when a shell runs the job's command: one analysis for every
layer. `sm-lint check` (SM101, SM102, SM105) gives it the shell code of the Dockerfile and the
build context, `sm-lint inspect` (SM201, SM203) that of the image's config and files, and the
harness's SM311 prediction that of the running container's PID 1.

The facts (data/shells.toml; observed in containers built from Debian 12's dash, bash and busybox
binaries, and re-checked by tests/test_real_shells.py):
- No shell passes the stop signal on. A shell that stays PID 1 catches SIGINT (SigCgt has INT
  and CHLD) and goes on waiting for its foreground child, which never receives it: the job runs
  until SIGKILL. "Ignores SIGINT" is not what happens and is never said.
- Whether the shell stays PID 1 depends on the shell and on what it runs: for a script file,
  every shell stays; for `sh -c STRING`, bash and busybox ash exec the last command themselves
  (bash only a plain top-level one, busybox any in tail position), dash never does, and no shell
  does once the string sets a trap. A command that does the work before the last one (even
  `python3 x.py; exec echo done`) always runs as the shell's child.
- `exec` makes the program PID 1; `trap '' INT` makes the shell and everything it starts ignore
  SIGINT (an ignored signal stays ignored across exec); a trap that kills the child and waits
  forwards the signal; any other trap runs only when the current foreground command has ended.

Where the shell is not known, a verdict that depends on it is not certain, and messages say
"may" and name what settles it: `sm-lint run IMAGE --scenario stop`.
"""
from __future__ import annotations

import posixpath
from fnmatch import fnmatchcase
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from sm_lint import data
from sm_lint.dockerfile.shell.records import Command

KNOWN = ("dash", "bash", "busybox")  # the shells whose behaviour was observed
SETTLE = "`sm-lint run IMAGE --scenario stop` settles it"

# Commands that finish at once (set-up, not the job's work): a shell that runs them as children
# is still PID 1 only for a moment. Anything else counts as work that can be running at the stop.
_QUICK = frozenset((
    ":", ".", "[", "[[", "alias", "basename", "cat", "cd", "chmod", "chown", "command", "cp", "date", "declare",
    "dirname", "echo", "env", "exit", "export", "false", "getent", "hash", "hostname", "id", "ln", "local", "ls",
    "mkdir", "mv", "nproc", "popd", "printenv", "printf", "pushd", "pwd", "read", "readlink", "readonly",
    "realpath", "return", "rm", "set", "shift", "shopt", "source", "test", "touch", "trap", "true", "type",
    "typeset", "ulimit", "umask", "uname", "unset", "wait", "which", "whoami",
))
# Words that run the next word as the program (the program keeps the same process).
_PASS_THROUGH = frozenset(("exec", "env", "nice", "nohup", "stdbuf", "chroot", "setsid", "gosu", "su-exec"))
_SIGNUMS = {"2": "INT", "15": "TERM", "1": "HUP", "3": "QUIT"}


class Shell(NamedTuple):
    """Which shell runs the code: "dash", "bash", "busybox", another name, or "" when unknown."""

    name: str
    how: str = ""  # for messages: "the image's /bin/sh -> dash", "python:3.11-slim is Debian-based"

    @property
    def known(self) -> bool:
        return self.name in KNOWN


UNKNOWN = Shell("")


class Verdict(NamedTuple):
    kind: str  # CHILD, PROGRAM, FORWARDS, TRAP, IGNORED or NO_WORK
    certain: bool  # False: it depends on something not known here (the shell, a branch)
    work: Optional[Command] = None  # the long-running command the verdict is about
    shape: str = ""  # why: "script" (no exec at the end), "earlier" (work before the last command),
    #                  "tail" (the shell's tail-exec rule decides), "loop", "trap"
    execs: Tuple[str, ...] = ()  # for an uncertain CHILD: the known shells that exec the work
    note: str = ""  # for "tail": why this shell does not exec the work ("a trap is set", ...)


CHILD = "child"  # the shell stays PID 1 with the work as its child: the signal is lost
PROGRAM = "program"  # the work itself is PID 1 (exec'd): what happens is the program's own business
FORWARDS = "forwards"  # a trap kills the child and the shell waits: the signal reaches the work
TRAP = "trap"  # the shell handles the signal itself, once the foreground command has ended
IGNORED = "ignored"  # `trap '' INT`: ignored by the shell and everything it starts
NO_WORK = "no-work"  # nothing long-running


# --------------------------------------------------------------------------- knowledge


def _data() -> Dict[str, Any]:
    return data.load("shells")  # data/shells.toml, through its compiled twin


def tail_exec(shell: str) -> Optional[str]:
    """The shell's tail-exec rule for `-c` ("never", "simple", "tail"), None for an unknown shell."""
    entry = _data()["shells"].get(shell)
    return entry["tail_exec"] if entry else None


_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/library/", "public.ecr.aws/docker/library/",
             "mirror.gcr.io/library/", "registry-1.docker.io/library/")


def base_image_shell(reference: str) -> Shell:
    """The /bin/sh of a base image named in FROM, from the table in data/shells.toml."""
    ref = reference.strip().lower()
    for prefix in _PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    ref = ref.split("@", 1)[0]
    if ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    data = _data()
    for entry in data["bases"]:
        if any(fnmatchcase(ref, pattern) for pattern in entry["image"]):
            distribution = entry["distribution"]
            if not distribution:
                return Shell("", f"{reference} has no /bin/sh")
            sh = data["distributions"][distribution]["sh"]
            return Shell(sh, f"{reference} is {_DISTRO_NAMES.get(distribution, distribution)}-based")
    return Shell("", f"which shell /bin/sh is in {reference} is not known here")


_DISTRO_NAMES = {"debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine", "amazonlinux": "Amazon Linux",
                 "rhel": "RHEL"}


def shell_named(program: str, base: Shell) -> Shell:
    """The shell that `program` (argv[0] of a shell command) is: `bash` and `dash` name
    themselves, `ash` is busybox's, `sh` is whatever /bin/sh is (`base`)."""
    name = program.rsplit("/", 1)[-1]
    if name in ("bash", "dash", "busybox"):
        return Shell(name, "")
    if name == "ash":
        return Shell("busybox", "")
    if name == "sh":
        return base
    return Shell(name, "")  # zsh, ksh, mksh: not observed


def identify_binary(data: bytes) -> str:
    """"busybox", "bash" or "dash" from an executable's bytes, "" when it is none of those."""
    if b"BusyBox v" in data:
        return "busybox"
    if b"GNU bash, version" in data:
        return "bash"
    return ""


# --------------------------------------------------------------------------- shell code


class _Step(NamedTuple):
    cmd: Command
    node: tuple
    cond: bool  # runs only on some path: after && / ||, in an if or case branch
    forked: bool  # in a subshell, pipeline or background: never the shell's own process
    loop: bool  # inside a for / while / until loop
    top: bool  # at the top level, not piped, and alone or in the only and-or list of the code


def _steps(script: str, env: Optional[Mapping[str, str]]) -> Tuple[List[_Step], Optional[tuple], Any]:
    from sm_lint.dockerfile.shell.effects import _analyse, _tail_candidates

    analysis = _analyse(script, env, "/")
    by_node: Dict[int, Command] = {}
    for rec in analysis.records:
        if not rec.wrapped and rec.cmd.words and not rec.func and id(rec.node) not in by_node:
            by_node[id(rec.node)] = rec.cmd
    steps: List[_Step] = []

    def walk(lst: tuple, cond: bool, forked: bool, loop: bool, top: bool) -> None:
        for andor, background in lst[1]:
            pairs = andor[1]
            for k, (_, pipeline) in enumerate(pairs):
                cmds = pipeline[1]
                # bash's own test: the command itself, or the right side of the top `;`/`&&`/`||`
                alone = top and len(cmds) == 1 and not background and (len(lst[1]) == 1 or len(pairs) == 1)
                for node in cmds:
                    visit(node, cond or k > 0, forked or background or len(cmds) > 1, loop, alone)

    def visit(node: tuple, cond: bool, forked: bool, loop: bool, top: bool) -> None:
        kind = node[0]
        if kind == "S":
            cmd = by_node.get(id(node))
            if cmd is not None:
                steps.append(_Step(cmd, node, cond, forked, loop, top))
        elif kind == "{":
            walk(node[1], cond, forked, loop, False)
        elif kind == "(":
            walk(node[1], cond, True, loop, False)
        elif kind == "if":
            for test, body in node[1]:
                walk(test, cond, forked, loop, False)
                walk(body, True, forked, loop, False)
            if node[2] is not None:
                walk(node[2], True, forked, loop, False)
        elif kind == "case":
            for body in node[2]:
                walk(body, True, forked, loop, False)
        elif kind == "for":
            walk(node[3], cond, forked, True, False)
        elif kind == "while":
            walk(node[1], cond, forked, True, False)
            walk(node[2], cond, forked, True, False)

    walk(analysis.ast, False, False, False, True)
    final = None
    for node, forked in _tail_candidates(analysis.ast, False):
        if id(node) in by_node:
            final = None if forked else node
            break
    return steps, final, analysis


def program_of(words: Tuple[str, ...]) -> Tuple[str, ...]:
    """The words from the program on: `exec`, `env X=1`, `nice -n 5`, `gosu user` skipped."""
    i = 0
    while i < len(words):
        name = words[i].rsplit("/", 1)[-1]
        if name not in _PASS_THROUGH:
            break
        i += 1
        while i < len(words) and (words[i].startswith("-") or (name == "env" and "=" in words[i])):
            i += 1
        if name in ("gosu", "su-exec", "chroot") and i < len(words):
            i += 1  # the user or the new root
    return words[i:]


def _is_work(cmd: Command, functions: Dict[str, bool]) -> bool:
    rest = program_of(cmd.words)
    if not rest:
        return False
    name = rest[0].rsplit("/", 1)[-1]
    return name not in _QUICK and not name.startswith(("$(", "`")) and name not in functions or \
        functions.get(name, False)


def _traps(steps: List[_Step], signal: str) -> Tuple[Optional[str], frozenset]:
    """The action of the last trap on `signal` set at the top level ("" to ignore, None when no
    trap handles it), and the signals that have a trap with an action (they stop tail exec)."""
    action: Optional[str] = None
    handled: Dict[str, bool] = {}
    for step in steps:
        words = step.cmd.words
        if not words or words[0] != "trap":
            continue
        args = [a for a in words[1:] if a != "--"]
        if len(args) < 2 or (args[0].startswith("-") and args[0] != "-"):
            continue
        names = {_SIGNUMS.get(s, s.upper()[3:] if s.upper().startswith("SIG") else s.upper()) for s in args[1:]}
        for name in names:
            handled[name] = args[0] not in ("", "-")
        if signal in names:
            action = None if args[0] == "-" else args[0]
    return action, frozenset(name for name, on in handled.items() if on)


def analyse(script: str, inline: bool, shell: str = "", signal: str = "INT",
            env: Optional[Mapping[str, str]] = None) -> Verdict:
    """What happens to `signal` (INT: StopProcessingJob's) sent to PID 1 when `shell` runs
    `script`: given with `-c` (`inline`) or as a script file. `shell` "" means not known: the
    verdict is certain only when dash, bash and busybox would all do the same."""
    try:
        steps, final, analysis = _steps(script, env)
    except Exception:  # noqa: BLE001 - the shell analysis never raises; this is belt and braces
        return Verdict(NO_WORK, False)
    if shell:
        return _decide(steps, final, analysis, inline, shell, signal, script, env)
    verdicts = {name: _decide(steps, final, analysis, inline, name, signal, script, env) for name in KNOWN}
    kinds = {v.kind for v in verdicts.values()}
    first = verdicts[KNOWN[0]]
    if len(kinds) == 1:
        return first._replace(certain=all(v.certain for v in verdicts.values()))
    execs = tuple(name for name, v in verdicts.items() if v.kind == PROGRAM)
    other = next((v for v in verdicts.values() if v.kind == CHILD), None) or \
        next(v for v in verdicts.values() if v.kind != PROGRAM)
    return other._replace(certain=False, execs=execs)


def _decide(steps: List[_Step], final: Optional[tuple], analysis: Any, inline: bool, shell: str, signal: str,
            script: str, env: Optional[Mapping[str, str]]) -> Verdict:
    functions = {}
    for rec in analysis.records:
        if rec.func:
            functions.setdefault(rec.func, False)
            if rec.cmd.words and not rec.wrapped and _is_work(rec.cmd, {}):
                functions[rec.func] = True
    works = [s for s in steps if _is_work(s.cmd, functions)]
    action, trapped = _traps(steps, signal)
    if action == "":
        return Verdict(IGNORED, True, works[-1].cmd if works else None, "trap")
    if not works:
        return Verdict(NO_WORK, True)
    last = works[-1]
    earlier = [w for w in works[:-1] if not (w.cmd.via_exec and not w.forked)]

    def stays(step: _Step, verdict: Verdict) -> Verdict:
        """The shell stays PID 1 while `step` runs: only a trap on the signal can still act."""
        if action is None:
            return verdict
        from sm_lint.dockerfile.shell import forwards_signals

        if forwards_signals(script, env):
            return Verdict(FORWARDS, True, step.cmd, "trap")
        # The trap runs once the foreground command has ended: never for a long one, soon
        # enough for a loop of short ones.
        return Verdict(TRAP, not step.loop, step.cmd, "loop" if step.loop else "trap")

    if earlier and last.cmd.via_exec and not last.forked and action is None:
        # `prep; exec server`: the exec'd program is the job and gets the signal. The earlier work runs
        # as the shell's child, and a signal that comes then is lost, but how long it runs no reading of
        # the code can tell: `sm-lint run --scenario stop` sees it (a shell PID 1 with a child, SM311).
        return Verdict(PROGRAM, False, last.cmd, "earlier")
    if earlier:
        first = earlier[0]
        return stays(first, Verdict(CHILD, not first.cond, first.cmd, "loop" if first.loop else "earlier"))
    if last.cmd.via_exec and not last.forked:
        return Verdict(PROGRAM, not last.cond, last.cmd)
    if last.loop:
        return stays(last, Verdict(CHILD, True, last.cmd, "loop"))
    # `_tail_candidates` skips `|| handler` tails; the last command in the code is final too.
    is_final = not last.forked and ((final is not None and last.node is final) or last is steps[-1])
    if not is_final:
        return stays(last, Verdict(CHILD, True, last.cmd, "earlier"))
    if not inline:
        return stays(last, Verdict(CHILD, True, last.cmd, "script"))
    rule = tail_exec(shell)
    if rule is None:
        return stays(last, Verdict(CHILD, False, last.cmd, "tail"))
    if rule == "never":
        return stays(last, Verdict(CHILD, True, last.cmd, "tail",
                                   note=f"{_SHELL_NAMES.get(shell, shell)} never execs the command of `-c` itself"))
    if rule == "tail":  # busybox ash: any tail command, unless a trap has an action
        why = "busybox ash execs no command once a trap is set" if trapped else ""
    else:  # bash: a plain top-level command, no trap
        why = ("bash execs no command once a trap is set" if trapped else
               "bash execs only a plain top-level command (alone, or at the end of the only `&&`/`||` list), "
               "not one in `if`, `{ }`, a pipeline or after `;` inside such a list" if not last.top else
               "bash does not exec a redirected command" if last.cmd.redirects else "")
    if why:
        return stays(last, Verdict(CHILD, True, last.cmd, "tail", note=why))
    return Verdict(PROGRAM, True, last.cmd, "tail")


# --------------------------------------------------------------------------- messages


def words(cmd: Optional[Command], limit: int = 60) -> str:
    text = " ".join(cmd.words) if cmd is not None else "(the program)"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def stop_sentence(verdict: Verdict, shell: Shell, signal: str = "SIGINT", settle: str = SETTLE) -> str:
    """The stop-signal part of a message, stated as sure only when it is; "" when there is
    nothing to say (the work is PID 1, a trap forwards the signal, there is no long work)."""
    work = f"`{words(verdict.work)}`"
    who = _who(shell)
    if verdict.kind == IGNORED:
        return (f"the code sets `trap '' {signal[3:]}`, so the shell and everything it starts ignore {signal}: "
                "the job runs on until SIGKILL")
    if verdict.kind == TRAP and verdict.certain:
        return (f"{who} stays PID 1 with {work} as its child, and its trap on {signal} runs only once {work} has "
                "ended: the child never receives the signal, so the job runs on until SIGKILL")
    if verdict.kind == TRAP:
        return (f"{who} stays PID 1 and its own trap handles {signal} only once the command it is waiting for "
                f"({work}) has ended, so the job may run on until SIGKILL ({settle})")
    if verdict.kind != CHILD:
        return ""
    lost = f"it catches {signal} but only waits for the child, which never receives it, so the job runs on until SIGKILL"
    if signal != "SIGINT":  # observed for SIGINT only (data/shells.toml): what the shell does with it is not said
        lost = f"{signal} goes to the shell, which does not pass it on: the child never receives it, so the job runs on until SIGKILL"
    if verdict.certain:
        why = {"script": " (no shell execs the last command of a script by itself)",
               "earlier": ", before the last command",
               "loop": " inside a loop",
               "tail": f" ({verdict.note})" if verdict.note else ""}.get(verdict.shape, "")
        return f"{who} stays PID 1 and runs {work} as its child{why}: {lost}"
    if verdict.shape == "tail" or verdict.execs:
        execs = " and ".join(_SHELL_NAMES[name] for name in verdict.execs) or "bash and busybox ash"
        stays = " and ".join(_SHELL_NAMES[name] for name in KNOWN if name not in verdict.execs)
        unknown = f" ({shell.how})" if shell.how else ""
        return (f"{work} may not receive {signal}: it depends on which shell runs it{unknown}. {execs} exec it, "
                f"so it becomes PID 1; {stays} stays PID 1 with it as a child, "
                f"{'catches SIGINT and waits' if signal == 'SIGINT' else 'which never receives ' + signal}: the "
                f"job would run on until SIGKILL ({settle})")
    return (f"{who} may stay PID 1 with {work} as its child (it runs only on some paths of the code), and then "
            f"{signal} never reaches it and the job runs on until SIGKILL ({settle})")


_SHELL_NAMES = {"dash": "dash", "bash": "bash", "busybox": "busybox ash"}


def _who(shell: Shell) -> str:
    if shell.name in _SHELL_NAMES:
        return _SHELL_NAMES[shell.name] + (f" ({shell.how})" if shell.how else "")
    return "the shell"


def fix(verdict: Verdict, script_file: bool = False) -> str:
    """A change that makes the stop signal reach the work, for the verdict's shape."""
    work = words(verdict.work, 80)
    program = " ".join(program_of(verdict.work.words)) if verdict.work is not None else "<program>"
    if verdict.kind == IGNORED:
        return "Remove the `trap '' INT` (the signal stays ignored across exec), and start the program with `exec`"
    if verdict.shape == "loop" or verdict.kind == TRAP and verdict.work is not None and verdict.shape == "loop":
        return ("Run the loop in a program that handles SIGINT, or make the shell exit on it: "
                "`trap 'exit 0' INT TERM` before the loop (it runs once the current command ends)")
    if verdict.shape == "earlier" or verdict.kind == TRAP:
        where = "the script" if script_file else "the code"
        return (f"Make `{work}` the last command of {where} and start it with `exec` (`exec {program}`): what comes "
                "after an exec'd command never runs, so do that work before it or in the program itself")
    where = "End the script with" if script_file else "Start it with `exec`:"
    return f"{where} `exec {program}`"


# --------------------------------------------------------------------------- images


def resolve(files: Mapping[str, Any], path: str, depth: int = 0) -> Tuple[str, Optional[Any]]:
    """`path` in an image's merged files with symlinks followed (also of folders on the way:
    /bin -> usr/bin); (resolved path, its FileEntry or None)."""
    if depth > 16:
        return path, None
    parts = [p for p in path.split("/") if p]
    current = ""
    for index, part in enumerate(parts):
        current = f"{current}/{part}"
        entry = files.get(current)
        if entry is None:
            if index == len(parts) - 1:
                return current, None
            continue  # a folder that the layers imply without listing it
        if entry.kind == "symlink" and entry.link:
            target = entry.link if entry.link.startswith("/") else posixpath.join(posixpath.dirname(current), entry.link)
            rest = "/".join(parts[index + 1:])
            return resolve(files, posixpath.normpath(posixpath.join(target, rest)) if rest else posixpath.normpath(target),
                           depth + 1)
        if entry.kind == "hardlink" and entry.link and index == len(parts) - 1:
            return resolve(files, "/" + entry.link.lstrip("./").lstrip("/"), depth + 1)
    return current or "/", files.get(current)


def image_shell(files: Mapping[str, Any], identities: Mapping[str, str], path: str = "/bin/sh") -> Shell:
    """Which shell `path` is in an image: by the name it links to, else by its bytes (`identities`,
    what the image loader recognised in executables named like shells)."""
    if path not in files and resolve(files, path)[1] is None:
        return Shell("", f"the image has no {path}")
    resolved, entry = resolve(files, path)
    name = resolved.rsplit("/", 1)[-1]
    how = f"the image's {path} is {resolved}" if resolved != path else f"the image's {path}"
    if name in ("dash", "bash", "busybox"):
        return Shell(name, how)
    if name == "ash":
        return Shell("busybox", how)
    known = identities.get(resolved) or identities.get(path)
    if known:
        return Shell(known, f"{how} ({known})")
    return Shell("", f"{how}, which sm-lint does not recognise")
