"""The command line as a user meets it: exit codes, formats, errors, config, pragmas."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sm_lint.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOOD = 'FROM python:3.11-slim\nCOPY process.py /opt/program/\nENTRYPOINT ["python3", "/opt/program/process.py"]\n'
BAD = "FROM python:3.11-slim\nCOPY process.py /opt/program/\nENTRYPOINT python3 /opt/program/process.py\n"


def run(*args: str, input: str = None):  # type: ignore[assignment]
    return CliRunner().invoke(app, list(args), input=input)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return tmp_path


def write(folder: Path, text: str, name: str = "Dockerfile") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_clean_file_exits_0(repo: Path) -> None:
    result = run("check", str(write(repo, GOOD)))
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_finding_line_format_and_exit_1(repo: Path) -> None:
    path = write(repo, BAD)
    result = run("check", str(path))
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:3:1: SM101 error: ENTRYPOINT is in shell form")
    assert "1 file checked: 1 finding (1 error); failed" in result.output


def test_json_report_shape(repo: Path) -> None:
    result = run("check", "--format", "json", str(write(repo, BAD)))
    document = json.loads(result.output)
    assert document["version"] == 1
    finding = document["findings"][0]
    assert {k: finding[k] for k in ("rule", "severity", "line", "column")} == {
        "rule": "SM101", "severity": "error", "line": 3, "column": 1}
    assert finding["fix"].startswith('Use exec form: ENTRYPOINT ["python3", "/opt/program/process.py"]')
    assert document["summary"]["failed"] is True
    assert document["summary"]["by_severity"]["error"] == 1


def test_output_file(repo: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run("check", "-f", "json", "-o", str(report), str(write(repo, BAD)))
    assert result.exit_code == 1 and result.output == ""
    assert json.loads(report.read_text())["findings"][0]["rule"] == "SM101"


def test_fail_on_threshold(repo: Path) -> None:
    path = write(repo, "FROM python:3.11-slim\nRUN mkdir -p /opt/ml/processing/input\nCMD [\"python3\"]\n")
    assert run("check", str(path)).exit_code == 0  # SM114 is info; default threshold is warning
    assert run("check", "--fail-on", "info", str(path)).exit_code == 1
    assert run("check", "--fail-on", "never", str(write(repo, BAD))).exit_code == 0


def test_ignore_flag_and_unknown_id(repo: Path) -> None:
    path = write(repo, BAD)
    assert run("check", "--ignore", "SM101", str(path)).exit_code == 0
    result = run("check", "--ignore", "SM999", str(path))
    assert result.exit_code == 2
    assert "unknown rule id SM999" in result.output


def test_directory_search(repo: Path) -> None:
    write(repo, BAD, "svc/Dockerfile")
    write(repo, GOOD, "svc/gpu.Dockerfile")
    write(repo, GOOD, "svc/Dockerfile.prod")
    write(repo, GOOD, "svc/build.dockerfile")
    write(repo, "not a dockerfile", "svc/README.md")
    result = run("check", "-f", "json", str(repo))
    document = json.loads(result.output)
    assert document["summary"]["targets"] == 4
    assert [f["path"] for f in document["findings"]] == [str(repo / "svc" / "Dockerfile")]


@pytest.mark.parametrize("setup, message", [
    (lambda d: d / "missing", "no such file or directory"),
    (lambda d: d, "no Dockerfile in this directory"),
    (lambda d: write(d, "", "Dockerfile").write_bytes(b"FROM x\x00\x01") and d / "Dockerfile", "binary file"),
    (lambda d: write(d, "", "Dockerfile").write_bytes(b"FROM caf\xe9\n") and d / "Dockerfile", "not UTF-8"),
])
def test_input_errors_exit_2_with_one_line(tmp_path: Path, setup, message: str) -> None:
    result = run("check", str(setup(tmp_path)))
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_stdin(repo: Path) -> None:
    result = run("check", "-", input=BAD)
    assert result.exit_code == 1
    assert result.output.startswith("-:3:1: SM101")


def test_config_file_ignores_severity_and_fail_on(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.sm-lint]\nfail-on = "error"\n'
        'severity = { SM101 = "warning" }\n'
    )
    path = write(repo, BAD, "app/Dockerfile")
    result = run("check", str(path))
    assert "SM101 warning" in result.output
    assert result.exit_code == 0  # a warning does not reach fail-on = error
    assert run("check", "--fail-on", "warning", str(path)).exit_code == 1  # the flag wins


def test_sm_lint_toml_wins_over_pyproject(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[tool.sm-lint]\nignore = []\n')
    (repo / "app").mkdir()
    (repo / "app" / ".sm-lint.toml").write_text('ignore = ["SM101"]\n')
    assert run("check", str(write(repo, BAD, "app/Dockerfile"))).exit_code == 0


@pytest.mark.parametrize("config, message", [
    ('ignore = ["SM999"]\n', "unknown rule id SM999"),
    ('ignore = "SM101"\n', "ignore must be a list"),
    ('fail-on = "sometimes"\n', "fail-on must be one of"),
    ('gpu = "maybe"\n', "gpu must be one of"),
    ('colour = true\n', "unknown config key colour"),
    ('ignore = [\n', "invalid TOML"),
    ('severity = { SM101 = "fatal" }\n', "unknown severity"),
    ('ignore = [{id = "SM101", until = "someday"}]\n', "until must be a date"),
])
def test_bad_config_is_a_usage_error(repo: Path, config: str, message: str) -> None:
    (repo / ".sm-lint.toml").write_text(config)
    result = run("check", str(write(repo, BAD)))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_expired_ignore_reports_again(repo: Path) -> None:
    (repo / ".sm-lint.toml").write_text(
        '# exceptions\nignore = [\n  {id = "SM101", reason = "legacy", until = 2020-01-01},\n]\n')
    result = run("check", "-f", "json", str(write(repo, BAD)))
    rules = [(f["rule"], f["path"], f["line"]) for f in json.loads(result.output)["findings"]]
    assert ("SM101", str(repo / "Dockerfile"), 3) in rules
    assert ("SM192", str(repo / ".sm-lint.toml"), 3) in rules


def test_inline_pragmas(repo: Path) -> None:
    text = ("FROM python:3.11-slim\n# sm-lint: ignore=SM101 -- replaced at deploy time\n"
            "ENTRYPOINT python3 /x.py\n")
    path = write(repo, text)
    assert run("check", str(path)).exit_code == 0
    strict = run("check", "--no-inline-ignores", str(path))
    assert strict.exit_code == 1 and "SM101" in strict.output


def test_malformed_and_unknown_pragmas_are_reported(repo: Path) -> None:
    text = ("# sm-lint: ignore-file=SM777\nFROM python:3.11-slim\n# sm-lint ignore SM101\n"
            "ENTRYPOINT python3 /x.py\n")
    result = run("check", str(write(repo, text)))
    assert ":1:1: SM190 warning: sm-lint pragma names unknown rule SM777" in result.output
    assert ":3:1: SM190 warning: malformed sm-lint pragma" in result.output
    assert "SM101" in result.output


def test_build_arg_and_target(repo: Path) -> None:
    text = ("ARG BASE=python:3.11-slim\nFROM ${BASE} AS app\nARG DEST=/app\nCOPY x.py ${DEST}/x.py\n"
            'ENTRYPOINT ["python3", "/app/x.py"]\nFROM app AS debug\nENTRYPOINT python3 /app/x.py\n')
    path = write(repo, text)
    assert run("check", "--build-arg", "DEST=/opt/ml/code", "--target", "app", str(path)).output.count("SM110") == 1
    assert run("check", "--target", "app", str(path)).exit_code == 0
    missing = run("check", "--target", "nope", str(path))
    assert "SM100" in missing.output and "target stage 'nope' could not be found" in missing.output


def test_gpu_flags(repo: Path) -> None:
    path = write(repo, GOOD)
    assert "SM121" in run("check", "--gpu", str(path)).output
    assert run("check", "--no-gpu", str(path)).exit_code == 0


def test_rules_listing_and_page() -> None:
    listing = run("rules")
    assert listing.exit_code == 0
    assert f"SM101  error    dockerfile {'processing':<36} ENTRYPOINT in shell form" in listing.output
    page = run("rules", "sm101")
    assert page.exit_code == 0 and "## Why is this bad?" in page.output
    assert run("rules", "SM999").exit_code == 2


def test_real_process_no_traceback_and_no_heavy_imports(repo: Path) -> None:
    """`python -m sm_lint check` in a subprocess: exit code, and docker, jinja2 and typer never imported."""
    path = write(repo, BAD)
    code = ("import sys, runpy; sys.argv=['sm-lint','check',%r]\n"
            "try:\n  runpy.run_module('sm_lint', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "  assert not {'docker', 'jinja2', 'typer'} & set(sys.modules), 'heavy import'\n"
            "  raise\n") % str(path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    assert "SM101" in proc.stdout and proc.stderr == ""


def _sm_lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sm_lint", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("args, message", [
    (("check",), "the following arguments are required: PATH"),
    (("check", "--format", "xml", "Dockerfile"), "invalid choice: 'xml'"),
    (("check", "--fail-on", "sometimes", "Dockerfile"), "invalid choice: 'sometimes'"),
    (("check", "--build-arg", "=x", "Dockerfile"), "expected NAME=VALUE"),
])
def test_usage_errors_on_the_fast_path_are_one_line(args: tuple, message: str) -> None:
    proc = _sm_lint(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_help_and_version() -> None:
    help_text = _sm_lint("check", "--help")
    assert help_text.returncode == 0 and "--no-inline-ignores" in help_text.stdout
    top = _sm_lint("--help")
    assert top.returncode == 0 and "check" in top.stdout and "rules" in top.stdout
    assert _sm_lint("--version").stdout.startswith("sm-lint ")


def _flag_table() -> dict:
    """{flag spelling: {(command, parameter)}} over every command: check's argparse parser and the
    typer commands (hidden, deprecated spellings included)."""
    import typer

    from sm_lint.check_command import parser

    table: dict = {}
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name, command in group.commands.items():
        if name == "check":  # its flags are argparse's, below
            continue
        for param in command.get_params(ctx):
            for flag in [*param.opts, *getattr(param, "secondary_opts", [])]:
                if flag.startswith("-"):
                    table.setdefault(flag, set()).add((name, param.name))
    for action in parser()._actions:
        for flag in action.option_strings:
            table.setdefault(flag, set()).add(("check", action.dest))
    return table


def test_each_flag_name_means_one_thing_in_every_command() -> None:
    """A short or long flag is the same parameter wherever it appears: `-o/--output FILE` is where the
    report goes in every command that writes one (check, inspect, run, gate); the job's output
    mapping of `run` is --job-output (its input --job-input)."""
    table = _flag_table()
    meanings = {flag: {param for _, param in uses} for flag, uses in table.items()}
    assert {flag: m for flag, m in meanings.items() if len(m) > 1} == {}
    reporting = {command for command, _ in table["--report"]}
    assert reporting == {"check", "inspect", "run", "gate"}
    for flag in ("-o", "--output"):
        assert {command for command, _ in table[flag]} == reporting, flag
    assert table["-o"] == table["--output"]
    assert table["--job-output"] == {("run", "job_output")} and table["--job-input"] == {("run", "job_input")}
    for command in sorted(reporting):
        help_text = _sm_lint(command, "--help").stdout
        assert "-o, --output FILE" in help_text and "Write the report here instead of stdout." in help_text, command


def _help(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "sm_lint", *args, "--help"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "100"})
    assert proc.returncode == 0 and proc.stderr == "", proc
    return proc.stdout


def _option_rows(text: str) -> dict:
    """{names column: description} of a help text's option and argument rows (wrapped lines joined)."""
    rows: dict = {}
    current = None
    for line in text.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            names, _, description = line.strip().partition("  ")
            current = names.strip()
            rows[current] = description.strip()
        elif line.startswith("   ") and current is not None:
            rows[current] = (rows[current] + " " + line.strip()).strip()
        else:
            current = None
    return rows


@pytest.mark.parametrize("command", ["check", "inspect", "run", "gate", "rules"])
def test_every_commands_help_reads_the_same(command: str) -> None:
    """`check --help` (argparse, kept off typer for start-up) and the typer commands' help share one
    layout: the usage line, the headings, `-s, --long METAVAR` rows, sentences, --help last, and
    every default written one way, "(default: X)"."""
    text = _help(command)
    lines = text.splitlines()
    assert lines[0].startswith(f"Usage: sm-lint {command} [OPTIONS]"), lines[0]
    assert lines[1] == "" and lines[2] and lines[3] == "", lines[:4]
    headings = [line for line in lines if line and not line.startswith(" ") and line.endswith(":")]
    assert headings[-1 if command != "check" else -2] == "Options:" and set(headings) <= {
        "Arguments:", "Options:", "Built image:"}, headings
    assert ("Arguments:" in headings) == (command != "gate")
    foreign = ("╭", "│", "[default:", "[required]", "usage:", "positional arguments", "<str>", "TEXT")
    assert [token for token in foreign if token in text] == []
    rows = _option_rows(text)
    options = {names: description for names, description in rows.items() if names.startswith("-")}
    options_section = text.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    assert list(_option_rows(options_section))[-1] == "-h, --help"  # --help ends the Options
    assert options["-h, --help"] == "Show this message and exit."
    for names, description in rows.items():
        assert description[:1].isupper() and description.endswith("."), (names, description)
        assert description.count("default") == description.count("(default: "), (names, description)
    for names in options:
        spellings = [part.split(" ")[0] for part in names.split(", ")]
        assert spellings == sorted(spellings, key=lambda s: s.startswith("--")), names  # short first
    if "-f, --format text|json|junit|html|sarif|github|gitlab|checkstyle" in options:
        assert options["-f, --format text|json|junit|html|sarif|github|gitlab|checkstyle"] == \
            "Output format (default: text)."


def test_defaults_are_written_from_the_definitions() -> None:
    """Each typer option with a default says it as "(default: X)", as check's do."""
    import typer

    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    for name in ("inspect", "run", "gate", "rules"):
        text = " ".join(_help(name).split())
        for param in group.commands[name].get_params(ctx):
            default = param.default.value if hasattr(param.default, "value") else param.default
            if default in (None, False, [], ()) or getattr(param, "hidden", False):
                continue
            shown = str(int(default)) if isinstance(default, float) and default.is_integer() else str(default)
            assert f"(default: {shown})" in text, (name, param.name)
    check = " ".join(_help("check").split())
    for default in ("text", "warning", "from evidence", "yes", "linux/amd64, SageMaker's", "2M; max-file-size in config"):
        assert f"(default: {default})" in check, default


def test_usage_errors_are_one_line_in_every_command() -> None:
    """A flag error reads the same in check (argparse) and the typer commands: one line on stderr,
    exit 2, and where the help is."""
    for args, expected in [
        (("check", "--fail-on", "x", "D"), "sm-lint: error: check: argument --fail-on: invalid choice: 'x'"),
        (("inspect", "--bogus", "x"), "sm-lint: error: inspect: No such option: --bogus"),
        (("run", "x:1", "--grace", "soon"), "sm-lint: error: run: Invalid value for '--grace'"),
        (("gate", "--fail-on", "x"), "sm-lint: error: gate: Invalid value for '--fail-on'"),
        (("rules", "-f", "xml"), "sm-lint: error: rules: Invalid value for '--format'"),
        (("nonsense",), "sm-lint: error: No such command 'nonsense'"),
    ]:
        proc = _sm_lint(*args)
        assert proc.returncode == 2 and proc.stdout == "", (args, proc)
        assert proc.stderr.startswith(expected) and len(proc.stderr.splitlines()) == 1, (args, proc.stderr)
        command = args[0] if args[0] != "nonsense" else ""
        assert proc.stderr.rstrip().endswith(f"(see `sm-lint{' ' + command if command else ''} --help`)"), proc.stderr
