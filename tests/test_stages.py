"""The stage model against Docker's documented scoping and inheritance rules."""
from __future__ import annotations

from typing import Dict, Optional

from sm_lint.dockerfile.parser import parse
from sm_lint.dockerfile.stages import Build, build


def model(text: str, args: Optional[Dict[str, str]] = None, target: Optional[str] = None) -> Build:
    return build(parse(text), args or {}, target)


def test_global_arg_reaches_from_but_not_the_stage_unless_redeclared() -> None:
    b = model("ARG V=3.11\nARG D=/x\nFROM python:${V}\nENV A=${D}\nARG D\nENV B=${D}\n")
    assert b.final.base == "python:3.11"
    assert b.final.env == {"A": "", "B": "/x"}


def test_build_arg_wins_over_defaults_and_env_wins_over_arg() -> None:
    b = model("FROM scratch\nARG P=/default\nENV E=${P}\nARG E=ignored\nENV F=${E}\n", {"P": "/cli"})
    assert b.final.env == {"E": "/cli", "F": "/cli"}


def test_expansion_forms() -> None:
    b = model("FROM scratch\nENV SET=x EMPTY=\nENV A=${UNSET:-d} B=${EMPTY:-d} C=${EMPTY-d} D=${SET:+alt} E=${UNSET+alt}\n")
    env = b.final.env
    assert (env["A"], env["B"], env["C"], env["D"], env["E"]) == ("d", "d", "", "alt", "")


def test_child_stage_inherits_env_workdir_shell_entrypoint_and_files() -> None:
    b = model('FROM alpine AS base\nENV X=1\nWORKDIR /app\nSHELL ["/bin/bash", "-c"]\n'
              'COPY run.sh ./\nENTRYPOINT ["/app/run.sh"]\nFROM base\nWORKDIR sub\nCMD echo hi\n')
    final = b.final
    assert final.parent is b.stages[0] and final.root is b.stages[0]
    assert final.env == {"X": "1"} and final.workdir == "/app/sub" and final.shell == ("/bin/bash", "-c")
    assert final.entrypoint is not None and final.entrypoint.stage is b.stages[0]
    assert final.cmd is not None and final.cmd.argv == ("/bin/bash", "-c", "echo hi")
    copy = final.source_of("/app/run.sh")
    assert copy is not None and copy.source == "run.sh"


def test_entrypoint_clears_inherited_cmd_only() -> None:
    inherited = model('FROM a AS s\nCMD ["x"]\nFROM s\nENTRYPOINT ["y"]\n')
    assert inherited.final.cmd is None
    same_stage = model('FROM a\nCMD ["x"]\nENTRYPOINT ["y"]\n')
    assert same_stage.final.cmd is not None


def test_target_and_stage_names_are_case_insensitive() -> None:
    b = model("FROM a AS Build\nFROM b\n", target="BUILD")
    assert b.final.name == "build"


def test_copy_from_stage_and_heredoc_sources() -> None:
    b = model("FROM a AS b\nCOPY x /opt/x\nFROM c\nCOPY --from=b /opt/x /y\nCOPY <<EOF /z\nhi\nEOF\n")
    y = b.final.source_of("/y")
    assert y is not None and y.from_stage is b.stages[0] and y.source == "/opt/x"
    z = b.final.source_of("/z")
    assert z is not None and z.heredoc is not None and z.heredoc.content == "hi\n"
