"""The shared PID-1 analysis (sm_lint/pid1.py) and what each layer says with it: which shell
/bin/sh is, whether it stays PID 1 for a command shape, and messages stated only as sure as that.
The shell behaviours themselves are observed on real shells by tests/test_real_shells.py."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Dict, NamedTuple, Set, Tuple

import pytest

from sm_lint import pid1
from sm_lint.catalogue import Catalogue
from sm_lint.config import Settings
from sm_lint.dockerfile.lint import lint_text
from sm_lint.image.model import FileEntry

CATALOGUE = Catalogue.load()


# --------------------------------------------------------------------------- the analysis

@pytest.mark.parametrize("script, inline, expected", [
    # shell "" (unknown), dash, bash, busybox
    ("python3 x.py", True, ("child?", "child", "program", "program")),
    ("exec python3 x.py", True, ("program",) * 4),
    ("python3 x.py; exec echo done", True, ("child",) * 4),
    ("python3 x.py; echo done", True, ("child",) * 4),
    ("cd /app && python3 x.py", True, ("child?", "child", "program", "program")),
    ("true; cd /app && python3 x.py", True, ("child?", "child", "child", "program")),
    ("false || python3 x.py", True, ("child?", "child", "program", "program")),
    ("{ python3 x.py; }", True, ("child?", "child", "child", "program")),
    ("cd /app; python3 x.py", True, ("child?", "child", "program", "program")),
    ("python3 x.py 2>&1", True, ("child?", "child", "child", "program")),
    ("trap 'exit 0' TERM; python3 x.py", True, ("child",) * 4),  # a trap: no shell execs
    ("trap 'exit 0' INT; python3 x.py", True, ("trap",) * 4),  # the trap runs after python3 ends: too late
    ("trap 'exit 0' INT TERM; python3 x.py", True, ("trap",) * 4),  # the trap runs after python3 ends: too late
    ("trap 'exit 0' EXIT; python3 x.py", True, ("child",) * 4),
    ("trap 'exit 0' INT; while :; do sleep 0.2; done", True, ("trap?",) * 4),
    ("sleep 600 & c=$!; trap 'kill $c; wait $c; exit 0' INT; wait $c", True, ("forwards",) * 4),
    ("trap '' INT; exec python3 x.py", True, ("ignored",) * 4),
    ("echo hi", True, ("no-work",) * 4),
    ("set -e\necho start\npython3 /x.py \"$@\"\n", False, ("child",) * 4),
    ("set -e\nexec python3 /x.py \"$@\"\n", False, ("program",) * 4),
    ("#!/bin/sh\nexec \"$@\"\n", False, ("program",) * 4),
    ("python3 a.py | tee log", True, ("child",) * 4),
])
def test_verdict_per_shell(script: str, inline: bool, expected: Tuple[str, ...]) -> None:
    got = []
    for shell in ("", "dash", "bash", "busybox"):
        verdict = pid1.analyse(script, inline, shell)
        got.append(verdict.kind + ("" if verdict.certain else "?"))
    assert tuple(got) == expected


def test_earlier_work_is_named_and_the_fix_is_not_the_exec_of_the_last_command() -> None:
    verdict = pid1.analyse("python3 x.py; exec echo done", True, "")
    assert verdict.work is not None and verdict.work.words == ("python3", "x.py")
    sentence = pid1.stop_sentence(verdict, pid1.UNKNOWN)
    assert "runs `python3 x.py` as its child, before the last command" in sentence
    fix = pid1.fix(verdict)
    assert "Make `python3 x.py` the last command" in fix and "exec python3 x.py" in fix
    assert "exec echo done" not in fix


def test_no_message_says_a_shell_ignores_sigint() -> None:
    shapes = ["python3 x.py", "python3 x.py; echo done", "trap 'exit 0' INT; python3 x.py", "cd / && python3 x.py"]
    for script in shapes:
        for shell in ("", "dash", "bash", "busybox"):
            sentence = pid1.stop_sentence(pid1.analyse(script, True, shell), pid1.Shell(shell))
            assert "ignores SIGINT" not in sentence and "ignore SIGINT" not in sentence


def test_unknown_shell_says_may_and_how_to_settle_it() -> None:
    sentence = pid1.stop_sentence(pid1.analyse("python3 x.py", True, ""), pid1.UNKNOWN)
    assert "may not receive SIGINT" in sentence and "--scenario stop" in sentence


@pytest.mark.parametrize("reference, shell", [
    ("python:3.11-slim", "dash"), ("python:3.11", "dash"), ("python", "dash"), ("python:3.11-alpine", "busybox"),
    ("ubuntu:22.04", "dash"), ("debian:bookworm-slim", "dash"), ("alpine:3.19", "busybox"),
    ("amazonlinux:2023", "bash"), ("public.ecr.aws/amazonlinux/amazonlinux:2", "bash"),
    ("nvidia/cuda:12.2.0-runtime-ubuntu22.04", "dash"), ("nvidia/cuda:12.2.0-base-ubi8", "bash"),
    ("nvidia/cuda:12.2.0-devel-rockylinux8", "bash"), ("redhat/ubi9", "bash"),
    ("public.ecr.aws/docker/library/python:3.11-slim", "dash"), ("docker.io/library/alpine", "busybox"),
    ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-gpu-py310-cu121-ubuntu20.04-sagemaker",
     "dash"),
    ("example.com/team/base:1", ""), ("scratch", ""), ("nvidia/cuda", ""),
])
def test_base_image_shell(reference: str, shell: str) -> None:
    assert pid1.base_image_shell(reference).name == shell


def _entry(path: str, kind: str = "file", link: str = "") -> Tuple[str, FileEntry]:
    return path, FileEntry(path, kind, 10, 0, link)


@pytest.mark.parametrize("files, identities, shell", [
    (dict([_entry("/bin", "symlink", "usr/bin"), _entry("/usr/bin/sh", "symlink", "dash"), _entry("/usr/bin/dash")]),
     {}, "dash"),
    (dict([_entry("/bin/sh", "symlink", "/bin/busybox"), _entry("/bin/busybox")]), {}, "busybox"),
    (dict([_entry("/usr/bin/sh", "symlink", "bash"), _entry("/usr/bin/bash"), _entry("/bin", "symlink", "usr/bin")]),
     {}, "bash"),
    (dict([_entry("/bin/sh")]), {"/bin/sh": "busybox"}, "busybox"),
    (dict([_entry("/bin/sh")]), {}, ""),
    (dict([_entry("/bin/busybox"), _entry("/bin/sh", "hardlink", "bin/busybox")]), {}, "busybox"),
    ({}, {}, ""),
])
def test_image_shell(files: Dict[str, FileEntry], identities: Dict[str, str], shell: str) -> None:
    assert pid1.image_shell(files, identities).name == shell


# --------------------------------------------------------------------------- `sm-lint check`

class Case(NamedTuple):
    name: str
    dockerfile: str
    expected: Set[Tuple[str, int]]
    message: str = ""


CASES = [
    Case("bash -c: an && list after ; keeps bash as PID 1",
         'FROM python:3.11\nENTRYPOINT ["bash", "-c", "set -e; cd /app && python3 x.py"]\n', {("SM105", 2)},
         message="bash stays PID 1 and runs `python3 x.py` as its child"),
    Case("work before an exec'd last command runs as the shell's child",
         'FROM python:3.11\nENTRYPOINT ["bash", "-c", "python3 x.py; exec echo done"]\n', {("SM105", 2)},
         message="runs `python3 x.py` as its child, before the last command"),
    Case("sh -c on a Debian base: dash stays PID 1 for sure",
         'FROM python:3.11-slim\nENTRYPOINT ["sh", "-c", "python3 x.py"]\n', {("SM105", 2)},
         message="dash (python:3.11-slim is Debian-based) stays PID 1"),
    Case("sh -c on an Alpine base: busybox execs the lone command",
         'FROM python:3.11-alpine\nENTRYPOINT ["sh", "-c", "python3 x.py"]\n', set()),
    Case("sh -c on an unknown base: only may",
         'FROM example.com/team/base:1\nENTRYPOINT ["sh", "-c", "python3 x.py"]\n', {("SM105", 2)},
         message="`python3 x.py` may not receive SIGINT"),
    Case("sh -c with a trap that forwards the signal",
         'FROM python:3.11-slim\nENTRYPOINT ["/bin/sh", "-c", "python3 x.py & c=$!; trap \'kill $c; wait $c\' INT TERM; wait $c"]\n',
         set()),
    Case("shell-form ENTRYPOINT on an Amazon Linux base: arguments dropped, the program is PID 1",
         'FROM amazonlinux:2023\nENTRYPOINT python3 /app/x.py\n', {("SM101", 2)}),
    Case("shell-form CMD on an Amazon Linux base: bash execs it, nothing lost",
         'FROM amazonlinux:2023\nCMD python3 /app/x.py\n', set()),
    Case("shell-form ENTRYPOINT on a Debian base: dropped arguments and a certain loss",
         "FROM python:3.11-slim\nENTRYPOINT python3 /app/x.py\n", {("SM101", 2)},
         message="dash (python:3.11-slim is Debian-based) stays PID 1 and runs `python3 /app/x.py` as its child"),
    Case("shell-form ENTRYPOINT with exec: only the arguments", "FROM python:3.11-slim\nENTRYPOINT exec python3 x.py\n",
         {("SM101", 2)}, message="cannot bring the arguments back"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_check(case: Case, tmp_path: Path) -> None:
    findings = lint_text(case.dockerfile, "Dockerfile", Settings(), CATALOGUE, tmp_path, datetime.date(2026, 1, 1))
    got = {(f.rule, f.location.line) for f in findings}
    assert got == case.expected, [f"{f.rule}:{f.location.line} {f.message}" for f in findings]
    for finding in findings:
        assert "ignores SIGINT" not in finding.message
    if case.message:
        assert case.message in findings[0].message, findings[0].message


def test_amazon_linux_shell_form_says_nothing_false_about_the_signal(tmp_path: Path) -> None:
    (finding,) = lint_text("FROM amazonlinux:2023\nENTRYPOINT python3 /app/x.py\n", "Dockerfile", Settings(),
                           CATALOGUE, tmp_path, datetime.date(2026, 1, 1))
    assert finding.message.endswith("so ContainerArguments and CMD are silently dropped"), finding.message
