"""The four ways a Processing job's command is put together (design.md, section 1)."""
from __future__ import annotations

from sm_lint.contract import is_shell_form, resolve

EP = ("python3", "/opt/program/process.py")
CMD = ("--mode", "default")


def test_neither_runs_entrypoint_plus_cmd() -> None:
    assert resolve(EP, CMD).argv == EP + CMD


def test_container_entrypoint_only_ignores_image_entrypoint_and_cmd() -> None:
    assert resolve(EP, CMD, ("bash", "/x.sh")).argv == ("bash", "/x.sh")


def test_container_arguments_only_replace_cmd() -> None:
    assert resolve(EP, CMD, None, ("--mode", "full")).argv == EP + ("--mode", "full")


def test_both_given() -> None:
    assert resolve(EP, CMD, ("python3", "/y.py"), ("a",)).argv == ("python3", "/y.py", "a")


def test_shell_form_entrypoint_drops_arguments() -> None:
    shell_ep = ("/bin/sh", "-c", "exec python3 /x.py")
    resolved = resolve(shell_ep, None, None, ("--mode", "full"))
    assert resolved.dropped == ("--mode", "full")
    assert resolved.argv == shell_ep + ("--mode", "full")  # what docker runs: they land in $0 and $1


def test_nothing_to_run() -> None:
    assert resolve(None, None).argv == ()


def test_shell_form_detection_uses_the_image_shell() -> None:
    assert is_shell_form(["/bin/bash", "-lc", "run"], ["/bin/bash", "-lc"])
    assert is_shell_form(["/bin/sh", "-c", "run"])
    assert not is_shell_form(["python3", "-c", "print(1)"])
    assert not is_shell_form(["/bin/sh", "-c"])


def test_shell_form_under_a_longer_shell() -> None:
    pipefail = ["/bin/bash", "-o", "pipefail", "-c"]
    assert is_shell_form(pipefail + ["run"], pipefail)
    assert is_shell_form(["/bin/bash", "-o", "pipefail", "-c", "run"])  # no Shell recorded
    assert is_shell_form(["/bin/busybox", "sh", "-c", "run"])
    assert not is_shell_form(["python3", "/x.py", "-c", "cfg"])
