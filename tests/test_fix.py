"""`sm-lint check --fix` / `--diff` (src/sm_lint/fix.py): each safe fix, each refusal, bytes kept,
idempotence, and BuildKit's own parser (the PyPI `dockerfile` package) as the judge of the result."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional, Tuple

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


SH = ["/bin/sh", "-c"]


@pytest.mark.parametrize("command, why, unsafe", [
    ("python $APP", "variable", SH + ['exec python $APP "$@"', "sh"]),
    ("python ${APP:-x}", "variable", SH + ['exec python ${APP:-x} "$@"', "sh"]),
    ("python `which x`", "command substitution", SH + ['exec python `which x` "$@"', "sh"]),
    ("python app.py | tee /log", "pipe", None),
    ("cd /app && python app.py", "`&&`", SH + ['cd /app && exec python app.py "$@"', "sh"]),
    ("python app.py; echo done", "`;`", None),  # `echo` is a builtin: exec needs /bin/echo
    ("cd /app; python app.py", "`;`", SH + ['cd /app; exec python app.py "$@"', "sh"]),
    ("python app.py > /log 2>&1", "redirection", SH + ['exec python app.py > /log 2>&1 "$@"', "sh"]),
    ("python /app/*.py", "glob", SH + ['exec python /app/*.py "$@"', "sh"]),
    ("python app.py &", "`&`", None),
    ("(python app.py)", "subshell", None),
    ("FOO=1 python app.py", "assignment", None),
    ("python ~/app.py", "tilde", SH + ['exec python ~/app.py "$@"', "sh"]),
    ("python \"$HOME/app.py\"", "variable", SH + ['exec python "$HOME/app.py" "$@"', "sh"]),
    ("exec python $APP", "variable", SH + ['exec python $APP "$@"', "sh"]),
    ("trap 'echo bye' EXIT; python $APP", "trap", None),
    ("python $APP || python fallback.py", "`||`", None),
    ("python $APP # run it", "variable", None),  # "$@" would land in the comment
    ("cd /app", "builtin", None),
    ("exec", "no command", None),
])
def test_refusals_leave_the_file_alone(tmp_path: Path, command: str, why: str, unsafe: Optional[List[str]]) -> None:
    text = f"FROM python:3.11\nENTRYPOINT {command}\n"
    data, result = fix(tmp_path, text)
    assert data == text.encode()
    assert why in result.stderr, result.stderr
    assert result.returncode == 1 and "SM101" in result.stdout
    if unsafe is None:
        assert "SM101 not fixed" in result.stderr, result.stderr
        data, result = fix(tmp_path, text, "--unsafe-fixes")
        assert data == text.encode() and "SM101 not fixed" in result.stderr, result.stderr
        return
    # ruff's semantics: listed as available, applied only with --unsafe-fixes
    assert "SM101 fixable with --unsafe-fixes" in result.stderr and "1 more with --unsafe-fixes" in result.stderr
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == unsafe, result.stderr
    assert "SM101 fixed" in result.stderr and "SM101" not in result.stdout and "SM105" not in result.stdout
    again, result = fix(tmp_path, data.decode(), "--unsafe-fixes")
    assert again == data and "fixed 0 finding(s)" in result.stderr


def test_unsafe_fix_follows_the_shell_in_force(tmp_path: Path) -> None:
    text = 'FROM python:3.11\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nENTRYPOINT cd /app && python $APP\n'
    data, _ = fix(tmp_path, text, "--unsafe-fixes")
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == [
        "/bin/bash", "-o", "pipefail", "-c", 'cd /app && exec python $APP "$@"', "bash"]
    text = 'FROM python:3.11\nSHELL ["pwsh", "-Command"]\nENTRYPOINT python $APP\n'
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert data == text.encode() and "not a POSIX shell" in result.stderr, result.stderr


def test_unsafe_cmd_that_runs_gets_exec_and_no_arguments(tmp_path: Path) -> None:
    text = "FROM python:3.11\nCMD cd /app && python train.py --epochs $EPOCHS\n"
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert buildkit_argv(data.decode(), "CMD") == SH + ["cd /app && exec python train.py --epochs $EPOCHS"]
    assert result.returncode == 0, result.stdout
    # Behind an ENTRYPOINT the CMD is arguments: a shell's words make no sense there in either form.
    text = 'FROM python:3.11\nENTRYPOINT ["python", "x.py"]\nCMD input $IN\n'
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert data == text.encode() and "ENTRYPOINT on line 2" in result.stderr, result.stderr


def test_unsafe_fixes_needs_fix_or_diff(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nENTRYPOINT python $APP\n")
    result = sm_lint("--unsafe-fixes", "Dockerfile", cwd=tmp_path)
    assert result.returncode == 2 and "--unsafe-fixes goes with --fix or --diff" in result.stderr


def script_image(tmp_path: Path, script: bytes, entrypoint: str = '["/usr/local/bin/entry.sh"]') -> Path:
    (tmp_path / "Dockerfile").write_text(
        f"FROM python:3.11\nCOPY entry.sh /usr/local/bin/entry.sh\nENTRYPOINT {entrypoint}\n")
    path = tmp_path / "entry.sh"
    path.write_bytes(script)
    path.chmod(0o755)
    return path


def test_sm105_exec_added_to_the_entrypoint_scripts_last_command(tmp_path: Path) -> None:
    script = script_image(tmp_path, b'#!/bin/sh\r\nset -e\r\ncd /app || exit 1\r\npython train.py "$@"\r\n# done\r\n')
    before = script.read_bytes()
    result = sm_lint("--fix", "Dockerfile", cwd=tmp_path)
    assert script.read_bytes() == before and result.returncode == 1 and "SM105" in result.stdout
    assert "SM105 fixable with --unsafe-fixes: `exec` added to line 4 of the entrypoint script entry.sh" \
        in result.stderr, result.stderr
    result = sm_lint("--diff", "--unsafe-fixes", "Dockerfile", cwd=tmp_path)
    assert result.returncode == 1 and '+exec python train.py "$@"' in result.stdout and script.read_bytes() == before
    result = sm_lint("--fix", "--unsafe-fixes", "Dockerfile", cwd=tmp_path)
    assert script.read_bytes() == before.replace(b"python train.py", b"exec python train.py")
    assert result.returncode == 0 and "SM105" not in result.stdout, result.stdout + result.stderr
    assert script.stat().st_mode & 0o777 == 0o755
    result = sm_lint("--fix", "--unsafe-fixes", "Dockerfile", cwd=tmp_path)
    assert "fixed 0 finding(s)" in result.stderr


@pytest.mark.parametrize("script, why", [
    (b"#!/bin/sh\ntrap 'rm -f /tmp/lock' EXIT\npython train.py\n", "trap"),
    (b"#!/bin/sh\npython train.py | tee /log\n", "pipeline"),
    (b"#!/bin/sh\nrun() { python train.py; }\nrun\n", "function"),
    (b"#!/bin/sh\nif true; then\n  python train.py\nfi\n", "not a simple command"),
    (b"#!/bin/sh\nwhile true; do python train.py; done\n", "not a simple command"),
])
def test_sm105_script_fix_refused(tmp_path: Path, script: bytes, why: str) -> None:
    path = script_image(tmp_path, script)
    result = sm_lint("--fix", "--unsafe-fixes", "Dockerfile", cwd=tmp_path)
    assert path.read_bytes() == script and "SM105 not fixed" in result.stderr and why in result.stderr, result.stderr


def test_sm105_inline_shell_code(tmp_path: Path) -> None:
    text = 'FROM python:3.11\nENTRYPOINT ["/bin/sh", "-c", "cd /app && python serve.py"]\n'
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == SH + ["cd /app && exec python serve.py"], result.stderr
    assert result.returncode == 0, result.stdout


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


@pytest.mark.parametrize("dockerfile, kept_out", [
    ("FROM python:3.11\nENTRYPOINT python app.py\n", ["dockerfile_parse", "sm_lint.fix"]),
    # The pre-commit start: a file with nothing for the shell analysis loads none of it.
    ('FROM python:3.11-slim\nCOPY app.py /app/\nENTRYPOINT ["python", "/app/app.py"]\n',
     ["dockerfile_parse", "sm_lint.fix", "sm_lint.pid1", "sm_lint.dockerfile.shell.effects",
      "sm_lint.dockerfile.shell.records",
      "sm_lint.dockerfile.shell.lexer", "shutil", "bz2", "lzma", "importlib.util", "tomllib"]),
])
def test_check_start_up_imports(tmp_path: Path, dockerfile: str, kept_out: List[str]) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    # As the console script does it (runpy would import importlib.util itself).
    code = ("import sys; sys.argv=['sm-lint','check','Dockerfile']\n"
            "from sm_lint.__main__ import main\n"
            "try:\n  main()\n"
            "except SystemExit:\n  print(' '.join(sorted(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    loaded = set(proc.stdout.strip().splitlines()[-1].split())
    assert "sm_lint.check_command" in loaded, proc.stdout + proc.stderr
    assert not loaded & set(kept_out), loaded & set(kept_out)


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


# --- every rule example -------------------------------------------------------------------------

from sm_lint.catalogue import Catalogue  # noqa: E402
from sm_lint.check import CheckOptions, run_check  # noqa: E402
from sm_lint.fix import RULES as FIXABLE  # noqa: E402
from sm_lint.fix import run_fix  # noqa: E402

CATALOGUE = Catalogue.load()


def _example_cases() -> List:
    return [pytest.param(rule, example, id=f"{rule.id}-{example.kind}-L{example.line}")
            for rule in CATALOGUE for example in rule.examples() if example.language == "dockerfile"]


@pytest.mark.parametrize("rule, example", _example_cases())
def test_fix_on_every_rule_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule, example) -> None:
    """--fix --unsafe-fixes on each Dockerfile example of rules/*.md: every fixable finding is fixed
    (gone afterwards) or left with a stated reason; nothing new appears; BuildKit parses the result;
    a second run changes nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # stop the config lookup here
    for name, content in example.files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    if example.config is not None:
        (tmp_path / ".sm-lint.toml").write_text(example.config)
    (tmp_path / "Dockerfile").write_text(example.text)
    given = dict(example.options)
    options = CheckOptions(gpu=given.get("gpu"), target=given.get("target"), profile=rule.example_profile(example))
    before = run_check(["Dockerfile"], options, CATALOGUE).findings
    outcomes = run_fix(["Dockerfile"], options, CATALOGUE, write_files=True, all_stages=False, unsafe=True)
    after = run_check(["Dockerfile"], options, CATALOGUE).findings
    notes = [note for outcome in outcomes for note in outcome.fixed + outcome.skipped]
    for finding in before:
        if finding.rule not in FIXABLE:
            continue
        key = f"{finding.location.line}: {finding.rule} "
        note = next((n for n in notes if n.startswith(key)), None)
        assert note is not None, (finding, notes)
        gone = not any(f.rule == finding.rule and f.location.line == finding.location.line for f in after)
        if " not fixed: " not in note:
            assert gone, (note, after)
    assert {f.rule for f in after} <= {f.rule for f in before}, (before, after)
    if not any(f.rule in FIXABLE for f in before):
        assert not any(outcome.changed for outcome in outcomes)
    text = (tmp_path / "Dockerfile").read_text()
    if buildkit is not None and "SM100" not in {f.rule for f in before}:
        buildkit.parse_string(text)
    again = run_fix(["Dockerfile"], options, CATALOGUE, write_files=True, all_stages=False, unsafe=True)
    assert not any(outcome.changed for outcome in again), [o.diff() for o in again]


# --- generated commands (hypothesis) ------------------------------------------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_WORD_CHARS = "ab/.-_=:,@%+09é " + "'\"\\$*#&;|<>()~{}[]`!?"


def _quote(word: str, style: int) -> str:
    """One way sh can spell `word`: backslashes, single quotes or double quotes."""
    if style == 1 and "'" not in word:
        return f"'{word}'"
    if style == 2:
        return '"' + "".join("\\" + c if c in '"\\$`' else c for c in word) + '"'
    return "".join(c if c.isalnum() or c in "/.-_=:,@%+é" else "\\" + c for c in word)


@st.composite
def shell_commands(draw: st.DrawFn) -> Tuple[str, List[str]]:
    """A shell-form command spelled in random ways, with the argv /bin/sh gives it (when `plain`)."""
    words = draw(st.lists(st.text(_WORD_CHARS, min_size=1, max_size=6), min_size=1, max_size=4))
    program = draw(st.sampled_from(["python", "/usr/bin/env", "app", "my-tool"]))
    spelled = [program] + [_quote(w, draw(st.integers(0, 2))) for w in words]
    raw = draw(st.lists(st.sampled_from(["$V", "${V:-x}", "&&", ";", "|", ">", "2>&1", "*.py", "~/x"]), max_size=1))
    spelled += raw
    if draw(st.booleans()):
        spelled.insert(0, "exec")
    return " ".join(spelled), spelled


def _fix_twice(dockerfile: str, unsafe: bool = False) -> Tuple[Any, str, Any]:
    """`--fix` on the text as ./Dockerfile of a fresh repository (hypothesis reuses no pytest
    tmp_path): the first outcome, the file it left, and the outcome of a second `--fix`."""
    folder = tempfile.mkdtemp()
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        os.mkdir(".git")  # the config lookup stops here
        with open("Dockerfile", "w", newline="") as handle:
            handle.write(dockerfile)
        outcome = run_fix(["Dockerfile"], CheckOptions(), CATALOGUE, write_files=True, all_stages=False, unsafe=unsafe)[0]
        with open("Dockerfile", newline="") as handle:
            fixed = handle.read()
        again = run_fix(["Dockerfile"], CheckOptions(), CATALOGUE, write_files=True, all_stages=False, unsafe=unsafe)[0]
    finally:
        os.chdir(cwd)
        shutil.rmtree(folder)
    return outcome, fixed, again


def _sh_argv(text: str) -> List[str]:
    """What the real /bin/sh makes of the words (the oracle of the safe fix)."""
    out = subprocess.run(["/bin/sh", "-c", "printf '%s\\0' " + text], capture_output=True, check=True).stdout
    return out.decode().split("\0")[:-1]


@pytest.mark.skipif(buildkit is None or shutil.which("sh") is None, reason="needs BuildKit's parser and /bin/sh")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=shell_commands(), keyword=st.sampled_from(["ENTRYPOINT", "CMD", "entrypoint"]),
       crlf=st.booleans(), continued=st.booleans(), unsafe=st.booleans())
def test_generated_commands(command: Tuple[str, List[str]], keyword: str, crlf: bool, continued: bool,
                            unsafe: bool) -> None:
    text, spelled = command
    newline = "\r\n" if crlf else "\n"
    body = (" \\" + newline + "    ").join(spelled) if continued else text
    dockerfile = f"FROM python:3.11{newline}{keyword} {body}{newline}"
    outcome, fixed, again = _fix_twice(dockerfile, unsafe)
    assert not again.changed, again.diff()  # idempotent
    event("fixed" if outcome.changed else "left as it was")
    if not outcome.changed:
        assert fixed == dockerfile
        return
    assert fixed.count(newline) == dockerfile.count(newline) and fixed.split(newline)[0] == "FROM python:3.11"
    commands = [c for c in buildkit.parse_string(fixed) if c.cmd.upper() == keyword.upper()]
    assert len(commands) == 1 and commands[0].json, fixed
    argv = list(commands[0].value)
    if argv[:2] != ["/bin/sh", "-c"]:  # the safe fix: exactly the words /bin/sh would have run
        expected = _sh_argv(text)
        assert argv == (expected[1:] if expected[:1] == ["exec"] else expected), (text, fixed)
    else:
        assert unsafe and argv[2].count("exec ") >= 1, fixed
        if spelled[0] != "/usr/bin/env" and spelled[:2] != ["exec", "/usr/bin/env"]:
            event("unsafe fix run by the real /bin/sh")
            # The real /bin/sh runs the same program with the same arguments, now as PID of the shell.
            assert _run_with_fake_programs(argv) == _run_with_fake_programs(["/bin/sh", "-c", text]), (text, argv)


def _run_with_fake_programs(argv: List[str]) -> bytes:
    """What `argv` runs, with python, app and my-tool as programs that print their arguments."""
    folder = tempfile.mkdtemp()
    try:
        for name in ("python", "app", "my-tool"):
            path = os.path.join(folder, name)
            with open(path, "w") as handle:
                handle.write(f"#!/bin/sh\nprintf '{name}'; printf '\\0%s' \"$@\"; printf '\\n'\n")
            os.chmod(path, 0o755)
        done = subprocess.run(argv, cwd=folder, capture_output=True, timeout=30,
                              env={"PATH": folder + ":/usr/bin:/bin", "HOME": "/nonexistent"})
        return done.stdout + b"|exit %d" % done.returncode
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(buildkit is None, reason="needs BuildKit's parser")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.text("ab /.-=é$&", min_size=0, max_size=5), min_size=1, max_size=4),
       quotes=st.lists(st.sampled_from("'\""), min_size=4, max_size=4), trailing=st.booleans(),
       breaks=st.lists(st.booleans(), min_size=5, max_size=5), crlf=st.booleans(),
       keyword=st.sampled_from(["ENTRYPOINT", "CMD", "RUN"]))
def test_generated_json_like_arrays(items: List[str], quotes: List[str], trailing: bool, breaks: List[bool],
                                    crlf: bool, keyword: str) -> None:
    """SM103 across continuation lines: single quotes and a trailing comma, on any lines."""
    newline = "\r\n" if crlf else "\n"
    parts = [f"{q}{item}{q}" if q == "'" else json.dumps(item, ensure_ascii=False) for item, q in zip(items, quotes)]
    if "'" not in quotes[:len(items)] and not trailing:
        trailing = True  # otherwise it is valid JSON already
    tokens = ["["] + [p + "," for p in parts[:-1]] + [parts[-1] + ("," if trailing else ""), "]"]
    body = ""
    for index, token in enumerate(tokens):
        body += token
        if index < len(tokens) - 1:
            body += (" \\" + newline + "  ") if breaks[index % len(breaks)] else " "
    dockerfile = f"FROM python:3.11{newline}{keyword} {body}{newline}"
    outcome, fixed, again = _fix_twice(dockerfile)
    assert outcome.changed and not again.changed, (dockerfile, outcome.skipped)
    assert fixed.count(newline) == dockerfile.count(newline)
    commands = [c for c in buildkit.parse_string(fixed) if c.cmd.upper() == keyword]
    assert commands and commands[0].json and list(commands[0].value) == items, fixed


def _bench_corpus() -> List:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import gen_corpus  # bench/gen_corpus.py: realistic processing Dockerfiles with planted mistakes
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return [pytest.param(f.text, id=f.path) for f in gen_corpus.generate(7, 60)]


def _realworld_corpus() -> List:
    """The hand-labelled public Dockerfiles of corpus/realworld, each with its repository folder
    (the build context: SM105's fix edits the entrypoint scripts in it)."""
    corpus = ROOT / "corpus" / "realworld"
    return [pytest.param(path.relative_to(corpus), id=str(path.relative_to(corpus)))
            for path in sorted(corpus.rglob("*")) if path.is_file() and "dockerfile" in path.name.lower()]


@pytest.mark.skipif(buildkit is None, reason="needs BuildKit's parser")
@pytest.mark.parametrize("text", _bench_corpus())
def test_fix_on_the_bench_corpus(text: str, tmp_path: Path) -> None:
    """The bench's realistic Dockerfiles (multi-stage CUDA builds, heredocs, long continuations,
    Windows escapes, planted shell-form ENTRYPOINTs)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "Dockerfile").write_bytes(text.encode())
    _assert_fix_keeps_buildkits_view(tmp_path, Path("Dockerfile"))


@pytest.mark.skipif(buildkit is None, reason="needs BuildKit's parser")
@pytest.mark.parametrize("relative", _realworld_corpus())
def test_fix_on_the_real_world_corpus(relative: Path, tmp_path: Path) -> None:
    """The 120 public Dockerfiles of corpus/realworld, fixed in a copy of their repository folder."""
    repository = relative.parts[0]
    shutil.copytree(ROOT / "corpus" / "realworld" / repository, tmp_path / repository)
    (tmp_path / repository / ".git").mkdir()
    _assert_fix_keeps_buildkits_view(tmp_path / repository, Path(*relative.parts[1:]))


def _assert_fix_keeps_buildkits_view(folder: Path, dockerfile: Path) -> None:
    """Whatever --fix --unsafe-fixes --fix-all-stages does, BuildKit reads the same instructions
    on the same lines, the fixed ones in exec form, all others unchanged, and a second run
    changes nothing."""
    text = (folder / dockerfile).read_bytes().decode("utf-8", "surrogateescape")
    before = buildkit.parse_string(text)
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        outcome = run_fix([str(dockerfile)], CheckOptions(), CATALOGUE, write_files=True, all_stages=True, unsafe=True)[0]
        again = run_fix([str(dockerfile)], CheckOptions(), CATALOGUE, write_files=True, all_stages=True, unsafe=True)[0]
    finally:
        os.chdir(cwd)
    fixed = (folder / dockerfile).read_bytes().decode("utf-8", "surrogateescape")
    assert not again.changed and not any(other.changed for other in again.others), again.diff()
    after = buildkit.parse_string(fixed)
    assert len(after) == len(before)
    noted = {int(note.split(":", 1)[0]) for note in outcome.fixed}
    in_dockerfile = {int(note.split(":", 1)[0]) for note in outcome.fixed if " SM105 " not in note}
    for old, new in zip(before, after):
        assert (old.cmd, old.start_line, old.end_line, old.flags) == (new.cmd, new.start_line, new.end_line, new.flags)
        if (old.value, old.json) != (new.value, new.json):
            assert new.json and not old.json and old.start_line in noted, (old, new)
        else:
            assert old.start_line not in in_dockerfile and old.heredocs == new.heredocs, (old, new)
    for script in outcome.others:  # SM105: `exec` added to an entrypoint script; sh still reads it
        written = folder / script.path
        assert subprocess.run(["sh", "-n", str(written)]).returncode == 0, script.diff()


def test_unsafe_fix_over_continuation_lines_keeps_the_lines(tmp_path: Path) -> None:
    text = ("FROM python:3.11\r\nentrypoint cd /app && \\\r\n  # go there first\r\n    python app.py  \\\r\n"
            "   --mode $MODE\r\nLABEL a=b\r\n")
    data, result = fix(tmp_path, text, "--unsafe-fixes")
    assert data.decode() == ('FROM python:3.11\r\nentrypoint ["/bin/sh", "-c", "cd /app && \\\r\n  # go there first\r\n'
                             '    exec python app.py  \\\r\n   --mode $MODE \\"$@\\"", "sh"]\r\nLABEL a=b\r\n'), result.stderr
    assert buildkit_argv(data.decode(), "ENTRYPOINT") == SH + ['cd /app &&     exec python app.py     --mode $MODE "$@"',
                                                               "sh"]
    again, result = fix(tmp_path, data.decode(), "--unsafe-fixes")
    assert again == data and result.returncode == 0, result.stdout


def test_diff_marks_a_last_line_without_newline(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nENTRYPOINT python app.py")
    result = sm_lint("--diff", "Dockerfile", cwd=tmp_path)
    assert result.stdout.endswith('+ENTRYPOINT ["python", "app.py"]\n\\ No newline at end of file\n'), result.stdout
    if shutil.which("patch"):
        copy = tmp_path / "copy"
        copy.write_text("FROM python:3.11\nENTRYPOINT python app.py")
        subprocess.run(["patch", "-s", str(copy)], input=result.stdout, text=True, check=True)
        assert copy.read_text() == 'FROM python:3.11\nENTRYPOINT ["python", "app.py"]'
