"""`sm-lint check --fix` / `--diff` (src/sm_lint/fix.py): each safe fix, each refusal, bytes kept,
idempotence, and BuildKit's own parser (the PyPI `dockerfile` package) as the judge of the result."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import yaml

from sm_lint.fix import Refused, exec_argv, json_items, sh_words

ROOT = Path(__file__).resolve().parents[1]

try:
    import dockerfile as buildkit  # BuildKit v0.12.5's parser, through cgo
except ImportError:  # pragma: no cover - e.g. Linux aarch64 without a wheel
    buildkit = None


def sm_lint(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sm_lint", "check", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def fix(tmp_path: Path, text: str, *extra: str, name: str = "Dockerfile") -> Tuple[bytes, subprocess.CompletedProcess]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    result = sm_lint("--fix", *extra, name, cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return path.read_bytes(), result


def buildkit_argv(text: str, keyword: str) -> Optional[List[str]]:
    """What BuildKit's parser makes of the last `keyword` instruction: its argv when in exec form."""
    if buildkit is None:
        pytest.skip("the `dockerfile` package (BuildKit's parser) is not importable")
    commands = [c for c in buildkit.parse_string(text) if c.cmd.upper() == keyword]
    assert commands, text
    return list(commands[-1].value) if commands[-1].json else None


@pytest.mark.parametrize("command, argv", [
    ("python app.py", ["python", "app.py"]),
    ("exec python /app/app.py --x 1", ["python", "/app/app.py", "--x", "1"]),
    ("python 'a b' \"c d\" e\\ f", ["python", "a b", "c d", "e f"]),
    ("python -c 'import x; x[0]'", ["python", "-c", "import x; x[0]"]),
    ("echo \"a\\\\b\" \"q\\\"q\" ''", ["echo", "a\\b", 'q"q', ""]),
    ("/usr/bin/env python3", ["/usr/bin/env", "python3"]),
])
def test_shell_form_entrypoint_to_exec_form(tmp_path: Path, command: str, argv: List[str]) -> None:
    data, result = fix(tmp_path, f"FROM python:3.11\nENTRYPOINT {command}\n")
    text = data.decode()
    assert buildkit_argv(text, "ENTRYPOINT") == argv
    assert text.startswith("FROM python:3.11\nENTRYPOINT [")
    assert "SM101 fixed" in result.stderr
    assert "SM101" not in result.stdout  # the remaining findings: none for the fixed rule


@pytest.mark.parametrize("command, why", [
    ("python $APP", "variable"),
    ("python ${APP:-x}", "variable"),
    ("python `which x`", "command substitution"),
    ("python app.py | tee /log", "pipe"),
    ("cd /app && python app.py", "`&&`"),
    ("python app.py; echo done", "`;`"),
    ("python app.py > /log 2>&1", "redirection"),
    ("python /app/*.py", "glob"),
    ("python app.py &", "`&`"),
    ("(python app.py)", "subshell"),
    ("FOO=1 python app.py", "assignment"),
    ("python ~/app.py", "tilde"),
    ("python \"$HOME/app.py\"", "variable"),
    ("cd /app", "builtin"),
    ("exec", "no command"),
])
def test_refusals_leave_the_file_alone(tmp_path: Path, command: str, why: str) -> None:
    text = f"FROM python:3.11\nENTRYPOINT {command}\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode()
    assert "SM101 not fixed" in result.stderr and why in result.stderr, result.stderr
    assert result.returncode == 1 and "SM101" in result.stdout


def test_cmd_with_exec_form_entrypoint(tmp_path: Path) -> None:
    data, result = fix(tmp_path, 'FROM python:3.11\nENTRYPOINT ["python", "/app/x.py"]\nCMD train --epochs 3\n')
    assert data.decode().endswith('CMD ["train", "--epochs", "3"]\n')
    assert buildkit_argv(data.decode(), "CMD") == ["train", "--epochs", "3"]
    assert result.returncode == 0, result.stdout


def test_entrypoint_not_fixed_when_a_cmd_would_become_its_arguments(tmp_path: Path) -> None:
    text = "FROM python:3.11\nENTRYPOINT python /app/x.py\nCMD [\"--a\"]\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode() and "CMD" in result.stderr and "arguments" in result.stderr


@pytest.mark.parametrize("args, items", [
    ("['python', 'app.py']", ["python", "app.py"]),
    ('["python", "app.py",]', ["python", "app.py"]),
    ("[ 'a b' , \"c\\\"d\" ]", ["a b", 'c"d']),
])
def test_sm103_to_valid_json(tmp_path: Path, args: str, items: List[str]) -> None:
    data, result = fix(tmp_path, f"FROM python:3.11\nENTRYPOINT {args}\n")
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == items
    assert "SM103 fixed" in result.stderr


def test_sm103_refused_where_items_are_unclear(tmp_path: Path) -> None:
    text = "FROM python:3.11\nENTRYPOINT ['a\\'b', 'c']\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode() and "SM103 not fixed" in result.stderr


def test_crlf_comments_continuations_and_case_kept(tmp_path: Path) -> None:
    text = ("FROM python:3.11\r\n# a comment\r\nentrypoint   exec python \\\r\n  # inside the continuation\r\n"
            "    /app/app.py \"a b\"  \\\r\n    --flag\r\nLABEL x=y\r\n")
    data, _ = fix(tmp_path, text)
    assert data == ("FROM python:3.11\r\n# a comment\r\nentrypoint   [\"python\", \\\r\n  # inside the continuation\r\n"
                    "    \"/app/app.py\", \"a b\",  \\\r\n    \"--flag\"]\r\nLABEL x=y\r\n").encode()
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == ["python", "/app/app.py", "a b", "--flag"]


def test_escape_directive_and_no_final_newline(tmp_path: Path) -> None:
    text = "# escape=`\nFROM python:3.11\nENTRYPOINT python `\n  'C:\\app\\x.py'"
    data, _ = fix(tmp_path, text)
    assert data.decode() == "# escape=`\nFROM python:3.11\nENTRYPOINT [\"python\", `\n  \"C:\\\\app\\\\x.py\"]"
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == ["python", "C:\\app\\x.py"]


def test_disagreement_with_dockerfile_parse_is_skipped_and_said(tmp_path: Path) -> None:
    # A blank line inside a continuation: BuildKit skips it, dockerfile-parse ends the instruction.
    text = "FROM python:3.11\nENTRYPOINT python \\\n\n  app.py\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode()
    assert "SM101 not fixed: dockerfile-parse sees lines 2-3" in result.stderr, result.stderr


def test_word_across_a_continuation_is_refused(tmp_path: Path) -> None:
    text = "FROM python:3.11\nENTRYPOINT pyth\\\non app.py\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode() and "across a line continuation" in result.stderr


def test_second_fix_changes_nothing(tmp_path: Path) -> None:
    text = "FROM python:3.11\nCMD ['--x',]\nENTRYPOINT exec python \\\n  app.py\n"
    first, _ = fix(tmp_path, text.replace("CMD ['--x',]\n", ""))
    second, result = fix(tmp_path, first.decode())
    assert first == second and "fixed 0 finding(s)" in result.stderr
    data, _ = fix(tmp_path, 'FROM python:3.11\nENTRYPOINT ["python"]\nCMD [\'--x\',]\n')
    again, _ = fix(tmp_path, data.decode())
    assert data == again and data.decode().endswith('CMD ["--x"]\n')


def test_sm100_file_is_not_fixed(tmp_path: Path) -> None:
    text = "FROM python:3.11\nENTRYPOINT python app.py\nRUN <<EOF\n"  # unterminated heredoc
    data, result = fix(tmp_path, text)
    assert data == text.encode() and "SM100" in result.stdout and result.returncode == 1


def test_unused_stage_only_with_fix_all_stages(tmp_path: Path) -> None:
    text = "FROM python:3.11 AS tools\nENTRYPOINT python tool.py\nFROM python:3.11\nENTRYPOINT [\"python\", \"a.py\"]\n"
    data, _ = fix(tmp_path, text)
    assert data == text.encode()
    data, result = fix(tmp_path, text, "--fix-all-stages")
    assert data.decode().splitlines()[1] == 'ENTRYPOINT ["python", "tool.py"]', result.stderr


def test_inherited_entrypoint_of_the_final_image_is_fixed(tmp_path: Path) -> None:
    text = "FROM python:3.11 AS base\nENTRYPOINT python app.py\nFROM base\nRUN true\n"
    data, _ = fix(tmp_path, text)
    assert data.decode().splitlines()[1] == 'ENTRYPOINT ["python", "app.py"]'


def test_diff_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "x.dockerfile"
    text = "FROM python:3.11\nENTRYPOINT python app.py\n"
    path.write_text(text)
    result = sm_lint("--diff", "x.dockerfile", cwd=tmp_path)
    assert result.returncode == 1 and path.read_text() == text
    assert '+ENTRYPOINT ["python", "app.py"]' in result.stdout and "would fix" in result.stderr
    sm_lint("--fix", "x.dockerfile", cwd=tmp_path)
    result = sm_lint("--diff", "x.dockerfile", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == ""


def test_fix_exit_code_follows_remaining_findings(tmp_path: Path) -> None:
    _, result = fix(tmp_path, "FROM python:3.11\nENTRYPOINT python app.py\n")
    assert result.returncode == 0, result.stdout
    _, result = fix(tmp_path, "FROM python:3.11\nENTRYPOINT python $APP\n")
    assert result.returncode == 1


def test_check_does_not_import_dockerfile_parse(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nENTRYPOINT python app.py\n")
    code = ("import sys, runpy; sys.argv=['sm-lint','check','Dockerfile']\n"
            "try:\n  runpy.run_module('sm_lint', run_name='__main__')\n"
            "except SystemExit:\n  assert 'dockerfile_parse' not in sys.modules and 'sm_lint.fix' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr


def test_units() -> None:
    assert sh_words("a 'b c'") == ["a", "b c"]
    with pytest.raises(Refused):
        sh_words("a\nb")
    with pytest.raises(Refused):
        exec_argv(["exec", "-a", "x", "y"])
    assert json_items("['a',]") == ["a"]
    with pytest.raises(Refused):
        json_items('["a" "b"]')


def test_precommit_manifest_has_fix_hook() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["sm-lint-fix"]["entry"] == "sm-lint check --fix"
    assert hooks["sm-lint-fix"]["files"] == hooks["sm-lint"]["files"]
