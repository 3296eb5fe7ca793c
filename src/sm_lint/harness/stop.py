"""The stop scenario: start the job, wait until it is running, read PID 1's signal dispositions,
send the stop signal (the profile's: SIGINT for Processing, "StopProcessingJob ... sends the SIGINT
and SIGKILL signals"; SIGTERM with 120 s for Training and 30 s for hosting and Batch Transform, from
data/profiles.toml), wait the grace, then SIGKILL, and report the timeline.

SM311 is the timing-free prediction, made before the signal is sent: from /proc/<pid>/status
(procstatus.py), or, when PID 1 is a shell with a child, from the shell's code (pid1.py: a shell
that did not exec and has no trap for the signal only waits for the child, which never gets it). SM310 is the observation: the container needed SIGKILL. SM312 names the usual
cause: PID 1 is a shell or wrapper with the real work in a child, which the signal never reaches.
"""
from __future__ import annotations

import posixpath
import re
import threading
import time
from pathlib import Path
from typing import List, Optional, Pattern, Tuple

from sm_lint import pid1
from sm_lint.contract import SHELLS
from sm_lint.findings import Hit
from sm_lint.harness.container_exec import exec_output
from sm_lint.harness.job import Job, Limits
from sm_lint.harness.lifecycle import Session
from sm_lint.harness.outcome import Outcome, Timeline, exit_words, log_evidence
from sm_lint.harness.plan import JobPlan
from sm_lint.harness.procstatus import SignalMasks, names, parse_status, signal_name, signal_number

# PID 1 programs that run the work in a child and pass no signal on to it. Init programs made for
# containers (tini, dumb-init, catatonit, s6) forward signals and are not listed.
WRAPPERS = SHELLS | {"su", "sudo", "runuser", "xargs"}
KILL_WAIT = 30.0


def run(session: Session, plan: JobPlan, limits: Limits, gpus: bool, stop_signal: str, grace: float,
        stop_after: float, ready_log: Optional[Pattern[str]], ready_timeout: float) -> Outcome:
    job = Job(session, plan, "stop", limits, gpus)
    hits: List[Tuple[str, Hit]] = []
    facts: List[Tuple[str, str]] = []
    timeline = Timeline()
    failure = job.launch()
    if failure is not None:
        return Outcome("stop", [], [], skipped=f"the container could not start ({failure.message})")
    timeline.restart(job.started_at)
    facts += [("note", note) for note in job.notes]
    timeline.add("started")
    ready = _wait_ready(job, stop_after, ready_log, ready_timeout)
    if job.running() != list(job.containers):
        ended = ", ".join(f"{host} {exit_words(e.code)}" for host, e in sorted(job.exits.items()))
        return Outcome("stop", [], [("stop timeline", " | ".join(timeline.lines))],
                       skipped=f"the job ended by itself before the stop signal ({ended}); "
                               "use a shorter --stop-after or a --ready-log that matches earlier")
    if ready is False:
        timeline.add(f"--ready-log {ready_log.pattern if ready_log else ''!r} not seen within {ready_timeout:g} s; "
                     "stopping anyway")
    else:
        timeline.add(ready or f"running for {stop_after:g} s")
    signum = signal_number(stop_signal)
    name = signal_name(signum)
    looks = {}
    for host in job.containers:
        command, children = job.pid1(host)
        masks, source = read_masks(job, host)
        looks[host] = (command, children, masks)
        state = f"PID 1: {command or '(unknown)'}"
        if children:
            state += f"; children: {', '.join(children[:3])}"
        if masks is not None:
            state += (f"; SigCgt={masks.caught:#x} ({names(masks.caught)}), SigIgn={masks.ignored:#x} "
                      f"({names(masks.ignored)}) (from {source})")
        timeline.add(f"{host} {state}")
        if masks is not None and not masks.catches(signum):
            how = f"ignores {name} (SigIgn)" if masks.ignores(signum) else \
                f"has no handler for {name}, and PID 1 gets no signal it has no handler for"
            hits.append(("SM311", Hit(0, f"{host}: PID 1 ({_short(command)}) {how}: the job cannot be "
                                         "stopped gracefully",
                                      fix=f"exec the program that handles {name} as PID 1 (exec form), "
                                          "or run it under an init that forwards signals (tini, dumb-init)",
                                      evidence=(f"SigCgt {masks.caught:#018x}: {names(masks.caught)}",
                                                f"SigIgn {masks.ignored:#018x}: {names(masks.ignored)}"))))
        elif masks is None:
            facts.append((f"PID 1 of {host}", f"signal masks not readable ({source}): no SM311 prediction"))
        elif command and children and _shell(command):
            code = shell_code(job, host, command)
            verdict = pid1.analyse(code[0], code[1], shell="dash") if code is not None else None
            # Seen running: the shell did not exec, whichever it is ("dash" never does), so only a
            # trap in its code could still act on the signal.
            # PROGRAM with a shell PID 1 still there: the shell has not reached its exec'd last command,
            # and the child is earlier work, which the signal never reaches.
            if verdict is not None and (verdict.kind in (pid1.CHILD, pid1.PROGRAM)
                                        or verdict.kind == pid1.TRAP and verdict.certain):
                hits.append(("SM311", Hit(0, f"{host}: PID 1 ({_short(command)}) is a shell with {_short(children[0])} "
                                             f"as its child and no trap for {name} that reaches it: it catches {name} "
                                             "but only waits for the child, which never receives it, so the job cannot "
                                             "be stopped gracefully",
                                          fix="`exec` the program as the last command (or use exec form), or "
                                              f"forward {name} with `trap 'kill -TERM $child' {name[3:]} TERM` and "
                                              "`wait`",
                                          evidence=(f"SigCgt {masks.caught:#018x}: {names(masks.caught)}",
                                                    f"children: {', '.join(children[:3])}"))))
            elif code is None:
                facts.append((f"PID 1 of {host}", "a shell with a child whose code could not be read: "
                                                  "no SM311 prediction"))
    signalled = timeline.add(f"{name} sent")
    job.signal(name)
    job.wait(grace)
    killed = job.running()
    if killed:
        timeline.add(f"{', '.join(killed)} still running after the {grace:g} s grace: SIGKILL sent")
        job.signal("SIGKILL")
        job.wait(KILL_WAIT)
    for host, ended in sorted(job.exits.items()):
        after = job.started_at + ended.seconds - signalled
        timeline.add(f"{host} {exit_words(ended.code, ended.oom_killed)}, {after:.3f} s after {name}",
                     job.started_at + ended.seconds)
    evidence = tuple(timeline.lines)
    for host in killed:
        command, children, masks = looks[host]
        hits.append(("SM310", Hit(0, f"{host}: did not exit within the {grace:g} s grace after {name}; "
                                     "it needed SIGKILL, so a stopped job loses its work in progress",
                                  fix=f"handle {name} in PID 1: finish or checkpoint, then exit",
                                  evidence=evidence + log_evidence(host, job.log_tail(host, 10)))))
        if command and _wrapper(command) and children:
            hits.append(("SM312", Hit(0, f"{host}: PID 1 is {_short(command)}, which runs {_short(children[0])} "
                                         f"as a child and does not pass {name} on to it",
                                      fix="`exec` the program as the last command of the script, use exec form, "
                                          "or use an init that forwards signals (tini, dumb-init)",
                                      # the timeline is SM310's evidence: one event, told once
                                      evidence=(f"PID 1: {command}", f"children: {', '.join(children[:3])}"))))
    facts.append(("stop timeline", " | ".join(timeline.lines)))
    facts.append(("stop verdict", f"{name} honoured" if not killed else f"{name} not honoured: SIGKILL needed"))
    return Outcome("stop", hits, facts)


def read_masks(job: Job, host: str, proc: Path = Path("/proc")) -> Tuple[Optional[SignalMasks], str]:
    """PID 1's masks: from the host's /proc when the engine runs on this machine (nothing needed in
    the image), else by running `cat /proc/1/status` in the container (a remote engine, whose
    container pids mean nothing here)."""
    container = job.containers[host]
    container.reload()
    pid = container.attrs.get("State", {}).get("Pid") or 0
    status = proc / str(pid) / "status"
    try:
        text = status.read_text()
        if pid and _namespace_init(text):
            masks = parse_status(text)
            if masks is not None:
                return masks, "the host's /proc"
    except OSError:
        pass
    try:
        code, output = exec_output(container, ["cat", "/proc/1/status"])
    except Exception as error:  # noqa: BLE001 - an exec that cannot start is just unavailable
        return None, f"no local /proc and `cat` could not run in the container: {' '.join(str(error).split())[:120]}"
    if code == 0:
        masks = parse_status(output.decode("utf-8", "replace"))
        if masks is not None:
            return masks, "`cat /proc/1/status` in the container"
    return None, "no local /proc and the image has no `cat`"


def _namespace_init(status_text: str) -> bool:
    """True when the process is PID 1 of its own PID namespace (`NSpid: <host pid> 1`)."""
    match = re.search(r"^NSpid:\s*(.+)$", status_text, re.M)
    return bool(match) and match.group(1).split()[-1] == "1" and len(match.group(1).split()) > 1


def _wait_ready(job: Job, stop_after: float, ready_log: Optional[Pattern[str]], timeout: float) -> Optional[object]:
    """None after `stop_after` seconds; with a ready log, a description when it matched, False on timeout."""
    if ready_log is None:
        job.wait(stop_after)
        return None
    matched = threading.Event()
    first = next(iter(job.containers.values()))

    def follow() -> None:
        pending = ""
        try:
            for chunk in first.logs(stream=True, follow=True, stdout=True, stderr=True):
                pending += chunk.decode("utf-8", "replace")
                lines = pending.split("\n")
                pending = lines.pop()
                if any(ready_log.search(line) for line in lines):
                    matched.set()
                    return
            if ready_log.search(pending):
                matched.set()
        except Exception:  # noqa: BLE001 - the container went away: the wait below sees it
            return

    threading.Thread(target=follow, name="sm-lint-ready-log", daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if matched.wait(0.05):
            break
        if job.poll():  # ended without ever logging the line
            return False
    return f"log matched {ready_log.pattern!r}" if matched.is_set() else False


def _shell(command: str) -> bool:
    words = command.split()
    return bool(words) and (words[0].rsplit("/", 1)[-1] in SHELLS or (
        len(words) > 1 and words[0].rsplit("/", 1)[-1] == "busybox" and words[1] in SHELLS))


def shell_code(job: Job, host: str, command: str) -> Optional[Tuple[str, bool]]:
    """The code PID 1's shell runs, (text, True) for `-c`, (text, False) for a script file read
    from the container; None when it cannot be known."""
    container = job.containers[host]
    attrs = container.attrs or {}
    argv = [attrs.get("Path") or ""] + list(attrs.get("Args") or [])
    words = command.split()
    if words[0].rsplit("/", 1)[-1] == "busybox":
        words = words[1:]
    if "-c" in argv[1:-1] and command.startswith(argv[0]):
        return argv[argv.index("-c", 1) + 1], True
    if "-c" in words[1:]:
        return command.split(" -c ", 1)[1] if " -c " in command else None, True  # type: ignore[return-value]
    script = next((word for word in words[1:] if not word.startswith("-")), None)
    if script is None:
        return None
    try:
        import io
        import tarfile

        workdir = (attrs.get("Config") or {}).get("WorkingDir") or "/"
        stream, _ = container.get_archive(posixpath.join(workdir, script))
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            data = tar.extractfile(member).read(1 << 20) if member is not None else None  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - gone, a link, unreadable: no prediction
        return None
    return (data.decode("utf-8", "replace"), False) if data is not None else None


def _wrapper(command: str) -> bool:
    words = command.split()
    return bool(words) and words[0].rsplit("/", 1)[-1] in WRAPPERS or (
        len(words) > 1 and words[0].rsplit("/", 1)[-1] == "busybox" and words[1] in WRAPPERS)


def _short(command: Optional[str], width: int = 60) -> str:
    text = command or "(unknown)"
    return f"`{text if len(text) <= width else text[:width - 3] + '...'}`"
