"""Issue 10, the `check` side: hostile or odd input gets a clear error before any work, files
outside the build context are never read, control bytes never reach a terminal raw."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "HOST_SECRET_LINE"
SCRIPT = f"#!/bin/sh\npython3 /{SECRET}\n"


def sm_lint(*args: str, cwd: Path = ROOT, stdin: str = None, timeout: float = 60):  # type: ignore[assignment]
    """The real console script path (`python -m sm_lint`), as a user runs it."""
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "sm_lint", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, input=stdin, timeout=timeout)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return tmp_path


# --- 2. files outside the build context ---------------------------------------------------------

def _context(repo: Path, copy_source: str) -> Path:
    """host/secret.sh outside the context `ctx`, whose Dockerfile copies `copy_source` to /e.sh."""
    (repo / "host").mkdir()
    (repo / "host" / "secret.sh").write_text(SCRIPT)
    ctx = repo / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f'FROM python:3.11-slim\nCOPY {copy_source} /e.sh\nENTRYPOINT ["/e.sh"]\n')
    return ctx


def _all_formats(dockerfile: Path) -> str:
    out = []
    for fmt in ("text", "json", "sarif", "github"):
        out.append(sm_lint("check", "-f", fmt, str(dockerfile)).stdout)
    return "\n".join(out)


@pytest.mark.parametrize("source", ["../host/secret.sh", "../../host/secret.sh", "/../host/secret.sh"])
def test_copy_source_with_dotdot_never_reads_outside_the_context(repo: Path, source: str) -> None:
    ctx = _context(repo, source)
    assert SECRET not in _all_formats(ctx / "Dockerfile")


def test_symlink_to_a_host_file_is_not_followed_out_of_the_context(repo: Path) -> None:
    ctx = _context(repo, "link.sh")
    (ctx / "link.sh").symlink_to(repo / "host" / "secret.sh")  # absolute: taken from the context root
    assert SECRET not in _all_formats(ctx / "Dockerfile")
    (ctx / "link.sh").unlink()
    (ctx / "link.sh").symlink_to("../host/secret.sh")  # relative, climbing out
    assert SECRET not in _all_formats(ctx / "Dockerfile")
    (ctx / "link.sh").unlink()
    (ctx / "sub").mkdir()
    (ctx / "link.sh").symlink_to("sub")
    (ctx / "sub" / "x").symlink_to("../../host")  # a folder link out, then a file below it
    (ctx / "Dockerfile").write_text('FROM python:3.11-slim\nCOPY sub/x/secret.sh /e.sh\nENTRYPOINT ["/e.sh"]\n')
    assert SECRET not in _all_formats(ctx / "Dockerfile")


def test_symlinks_resolve_inside_the_context_as_buildkit_does(repo: Path) -> None:
    """An absolute link target starts at the context root; `..` in a target stops at the root."""
    ctx = _context(repo, "link.sh")
    (ctx / "host").mkdir()
    (ctx / "host" / "secret.sh").write_text("#!/bin/sh\npython3 /INSIDE_THE_CONTEXT\n")
    for target in ("/host/secret.sh", "../../../../host/secret.sh", "host/secret.sh"):
        (ctx / "link.sh").unlink(missing_ok=True)
        (ctx / "link.sh").symlink_to(target)
        out = sm_lint("check", str(ctx / "Dockerfile")).stdout
        assert "INSIDE_THE_CONTEXT" in out and SECRET not in out, (target, out)


def test_symlink_loop_in_the_context_is_harmless(repo: Path) -> None:
    ctx = _context(repo, "a.sh")
    (ctx / "a.sh").symlink_to("b.sh")
    (ctx / "b.sh").symlink_to("a.sh")
    result = sm_lint("check", str(ctx / "Dockerfile"), timeout=20)
    assert result.returncode == 0 and result.stderr == "", result


def test_resolve_unit(tmp_path: Path) -> None:
    from sm_lint.dockerfile import build_context

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    root = os.path.realpath(tmp_path)
    assert build_context.resolve(tmp_path, "../../d/./f") == os.path.join(root, "d", "f")
    assert build_context.resolve(tmp_path, "d/f/g") is None  # a file is not a folder
    (tmp_path / "fifo").symlink_to("/dev/null")
    assert build_context.read_text(tmp_path, "fifo") is None  # /dev/null inside the root: missing
    assert build_context.read_text(tmp_path, "d") is None  # a folder
    assert build_context.read_text(tmp_path, "d/f") == "x"


# --- 3. terminal escapes ------------------------------------------------------------------------

ESC_TEXT = "FROM python:3.11-slim\nENTRYPOINT python3 /x.py \x1b]0;pwned\x07\x1b[2J\x9b31m\u202e\n"


def test_text_output_escapes_control_bytes_from_the_dockerfile_and_its_name(repo: Path) -> None:
    path = repo / "evil\x1b[31m.Dockerfile"
    path.write_text(ESC_TEXT)
    for args in (("check", str(path)), ("check", str(repo))):
        out = sm_lint(*args).stdout
        assert "SM101" in out
        assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f or c == "\u202e" for c in out), out
        assert "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202e" in out and "evil\\x1b[31m.Dockerfile" in out


def test_machine_formats_keep_the_exact_text(repo: Path) -> None:
    path = repo / "Dockerfile"
    path.write_text(ESC_TEXT)
    document = json.loads(sm_lint("check", "-f", "json", str(path)).stdout)
    assert "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e" in document["findings"][0]["message"]
    sarif = json.loads(sm_lint("check", "-f", "sarif", str(path)).stdout)
    assert "\x1b]0;pwned" in sarif["runs"][0]["results"][0]["message"]["text"]
    import xml.etree.ElementTree as ET

    for fmt in ("junit", "checkstyle"):
        ET.fromstring(sm_lint("check", "-f", fmt, str(path)).stdout)  # valid XML


def test_error_lines_escape_control_bytes(tmp_path: Path) -> None:
    result = sm_lint("check", str(tmp_path / "missing\x1b]52;c;aGk=\x07\nfake line"))
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\\x1b]52;c;aGk=\\x07\\nfake line" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_progress_lines_escape_control_bytes(capsys: pytest.CaptureFixture) -> None:
    from sm_lint.progress import Progress

    with Progress() as progress:
        progress.step("inspecting image evil\x1b[2J:latest")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[2J:latest" in err


def test_text_renderer_escapes_every_quoted_part() -> None:
    """Image file names, evidence (container logs) and facts, as inspect and run show them."""
    from sm_lint.findings import Finding, Location, Severity
    from sm_lint.report import RunInfo
    from sm_lint.report.text import render

    finding = Finding("SM220", Severity.ERROR, "driver file /usr/lib/libcuda.so\x1b[8m", Location("img\r", 0, 0),
                      "remove it\x1b[0m", ("log: \x1b]0;title\x07done",))
    info = RunInfo("inspect", ("img",), "warning", {}, True, (("image", "x\x1bc"),))
    out = render([finding], info)
    raw = out.replace("\033[31m", "").replace("\033[0m", "")  # the colour is ours
    assert "\x1b" not in raw and "\r" not in raw
    assert "\\x1b[8m" in out and "\\x1b]0;title\\x07done" in out and "x\\x1bc" in out and "img\\r" in out


# --- bad input: a clear one-line error and exit 2, before any work -------------------------------

def _one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert result.stdout == ""


def test_fifo_found_while_searching_a_folder_is_an_error_not_a_hang(repo: Path) -> None:
    (repo / "svc").mkdir()
    (repo / "svc" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    os.mkfifo(repo / "svc" / "build.Dockerfile")
    _one_line_error(sm_lint("check", str(repo), timeout=20), "build.Dockerfile", "not a regular file: a FIFO")


@pytest.mark.parametrize("make, needle", [
    (lambda d: Path("/dev/null"), "not a regular file: a character device"),
    (lambda d: (os.mkfifo(d / "Dockerfile"), d / "Dockerfile")[1], "not a regular file: a FIFO"),
    (lambda d: ((d / "a").symlink_to("b"), (d / "b").symlink_to("a"), d / "a")[2], "symbolic link loop"),
    (lambda d: ((d / "Dockerfile").symlink_to("gone"), d / "Dockerfile")[1], "broken symbolic link"),
    (lambda d: d / "missing", "no such file or directory"),
])
def test_special_files_given_directly_say_what_they_are(tmp_path: Path, make, needle: str) -> None:
    _one_line_error(sm_lint("check", str(make(tmp_path)), timeout=20), needle)


def test_deeply_nested_variables_are_a_finding_not_a_crash(repo: Path) -> None:
    nested = "${a:-" * 600 + "x" + "}" * 600
    path = repo / "Dockerfile"
    path.write_text(f'FROM python:3.11-slim\nENV B={nested}\nCMD ["python3"]\n')
    result = sm_lint("check", "-f", "json", str(path))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    finding = json.loads(result.stdout)["findings"][0]
    assert finding["rule"] == "SM100" and "nested deeper than 100 levels" in finding["message"]


def test_deeply_nested_toml_config_is_a_usage_error(repo: Path) -> None:
    (repo / ".sm-lint.toml").write_text("ignore = " + "[" * 600 + "]" * 600 + "\n")
    (repo / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["python3"]\n')
    _one_line_error(sm_lint("check", str(repo / "Dockerfile")), "nested too deeply")


def test_output_file_is_checked_before_any_work(repo: Path) -> None:
    # The Dockerfile is missing too: the --output error must come first, as --report's does.
    _one_line_error(sm_lint("check", "-o", str(repo / "no" / "r.txt"), str(repo / "missing")),
                    "--output", "no directory")
    _one_line_error(sm_lint("check", "-o", str(repo), str(repo / "missing")), "is a directory")
    _one_line_error(sm_lint("inspect", "-o", str(repo / "no" / "r.txt"), str(repo / "missing.tar")),
                    "--output", "no directory")


@pytest.mark.parametrize("config, needle", [
    ("build-args = { CUDA = 12.10 }\n", "build-args.CUDA must be a quoted string: TOML reads 12.1 as a number"),
    ("build-args = { GPU = true }\n", "build-args.GPU must be a string"),
    ("build-args = { L = [1] }\n", "build-args.L must be a string"),
    ('context = "/nonexistent"\n', "context '/nonexistent': no such directory"),
    ('context = "missing"\n', "context 'missing': no such directory"),
    ('max-file-size = "lots"\n', "max-file-size must be a size"),
    ("max-file-size = 0\n", "max-file-size must be more than 0"),
])
def test_config_values_of_the_wrong_type_are_usage_errors(repo: Path, config: str, needle: str) -> None:
    (repo / ".sm-lint.toml").write_text(config)
    (repo / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["python3"]\n')
    _one_line_error(sm_lint("check", str(repo / "Dockerfile")), needle)


def test_integer_build_args_are_their_digits() -> None:
    from sm_lint.config import from_table

    assert from_table({"build-args": {"CUDA": 12, "V": "12.10"}}, "x.toml").build_args == (("CUDA", "12"),
                                                                                          ("V", "12.10"))


def test_context_flag_must_name_a_folder(repo: Path) -> None:
    (repo / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["python3"]\n')
    _one_line_error(sm_lint("check", "--context", str(repo / "nope"), str(repo / "Dockerfile")),
                    "--context", "no such directory")


def test_files_past_the_size_limit_are_refused_first(repo: Path) -> None:
    big = repo / "big" / "Dockerfile"
    big.parent.mkdir()
    body = "".join(f"echo line {i}\n" for i in range(200_000))  # ~2.6 MB
    big.write_text(f'FROM python:3.11-slim\nRUN <<EOF\n{body}EOF\nCMD ["python3"]\n')
    small = repo / "Dockerfile"
    small.write_text('FROM python:3.11-slim\nCMD ["python3"]\n')
    # The small file comes first and would be linted first: the refusal must come before it.
    _one_line_error(sm_lint("check", str(small), str(big)), "big/Dockerfile: larger than 2 MiB", "--max-file-size")
    _one_line_error(sm_lint("check", "-", stdin=big.read_text()), "-: larger than 2 MiB")
    _one_line_error(sm_lint("check", "--max-file-size", "1k", str(big)), "larger than 1 KiB")
    _one_line_error(sm_lint("check", "--max-file-size", "huge", str(small)), "--max-file-size must be a size")
    assert sm_lint("check", "--max-file-size", "4M", str(small)).returncode == 0
    (repo / ".sm-lint.toml").write_text('max-file-size = "100"\n')
    _one_line_error(sm_lint("check", str(repo)), "larger than 100 bytes")


# --- a new user's rough edges --------------------------------------------------------------------

def test_readme_quick_start_sample_is_the_real_output() -> None:
    """The README's first command lints the bundled example: it must fail (exit 1) and print
    exactly the sample that follows it."""
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first is not None
    command = next(part for part in re.split(r"&&|\n", first.group(1)) if "sm-lint check" in part)
    argv = shlex.split(command.split("#")[0])
    assert argv[:2] == ["sm-lint", "check"]
    sample = re.search(r"```text\n(.*?)```", readme[first.end():], re.S)
    assert sample is not None and "exit code 1" in readme[first.end():first.end() + sample.start()]
    result = sm_lint(*argv[1:])
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout == sample.group(1), "update the README's quick-start sample to the real output"


def test_text_output_shows_each_fix_and_the_rule_pages(repo: Path) -> None:
    path = repo / "Dockerfile"
    path.write_text("FROM python:3.11-slim\nENTRYPOINT python3 /x.py\n")
    lines = sm_lint("check", str(path)).stdout.splitlines()
    assert lines[0].startswith(f"{path}:2:1: SM101 error:")
    assert lines[1] == '    fix: Use exec form: ENTRYPOINT ["python3", "/x.py"]'
    assert lines[2] == "why each rule matters and how to fix it: sm-lint rules SMxxx"
    assert lines[3].startswith("1 file checked: 1 finding")
    path.write_text('FROM python:3.11-slim\nENTRYPOINT ["python3", "/x.py"]\n')
    assert sm_lint("check", str(path)).stdout == "1 file checked: no problems\n"  # no noise when clean


def test_check_with_image_counts_a_file_and_an_image(repo: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from image_archives import write_image

    dockerfile = repo / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPY process.py /opt/program/\n"
                          'ENTRYPOINT ["python3", "/opt/program/process.py"]\n')
    archive = write_image(repo / "img.tar", [[("opt/program/process.py", "file", 5)]],
                          {"Entrypoint": ["python3", "/opt/program/process.py"]})
    result = sm_lint("check", "--image", str(archive), str(dockerfile))
    assert result.stdout.splitlines()[-1] == "1 file and 1 image checked: no problems", result


def test_summary_wording_per_layer() -> None:
    from sm_lint.report import RunInfo
    from sm_lint.report.text import summary

    both = RunInfo("check", ("Dockerfile", "img"), "warning", {},
                   target_layers=(("Dockerfile", "dockerfile"), ("img", "image")))
    assert summary([], both) == "1 file and 1 image checked: no problems"
    assert summary([], RunInfo("check", ("a", "b"), "warning", {})) == "2 files checked: no problems"
    assert summary([], RunInfo("inspect", ("img",), "warning", {})) == "1 image checked: no problems"


# --- size: linear time, bounded memory ------------------------------------------------------------

def _build_peak(text: str):
    import tracemalloc

    from sm_lint.dockerfile.parser import parse
    from sm_lint.dockerfile.stages import BuildError, build

    parsed = parse(text)
    tracemalloc.start()
    try:
        model = build(parsed, {})
        error = None
    except BuildError as raised:
        model, error = None, raised
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return model, error, peak


def test_steps_share_an_unchanged_scope() -> None:
    """50 ENV then 100k RUN: one scope for all the RUNs, not 100k copies of 50 variables."""
    text = "FROM python:3.11-slim\n" + "".join(f"ENV V{i}=v{i}\n" for i in range(50))
    text += "".join(f"RUN echo {i}\n" for i in range(100_000))
    model, error, peak = _build_peak(text)
    assert error is None and model.final.steps[-1].vars["V49"] == "v49"
    assert model.final.steps[-1].vars is model.final.steps[-2].vars
    assert peak < 60_000_000, peak  # was ~250 MB


def test_a_long_chain_of_stages_costs_linear_memory() -> None:
    text = "FROM python:3.11-slim AS s0\n" + "".join(f"FROM s{i} AS s{i + 1}\nCOPY a{i} /a{i}\n" for i in range(10_000))
    model, error, peak = _build_peak(text)
    assert error is None and len(model.final.copies) == 10_000
    assert model.final.source_of("/a0").source == "a0"
    assert peak < 60_000_000, peak  # was ~400 MB: every stage copied its parent's COPY list


def test_redefining_many_variables_many_times_is_sm100_not_gigabytes() -> None:
    """Alternating ENV/RUN copies a growing scope per line: 55k pairs fit in 2 MiB and took >24 GB."""
    text = "FROM python:3.11-slim\n" + "".join(f"ENV V{i}={i}\nRUN echo {i}\n" for i in range(3_000))
    model, error, peak = _build_peak(text)
    assert error is not None and "too large to model" in error.message
    assert peak < 150_000_000, peak
    import datetime

    from sm_lint.catalogue import Catalogue
    from sm_lint.config import Settings
    from sm_lint.dockerfile.lint import lint_text

    findings = lint_text(text, "Dockerfile", Settings(), Catalogue.load(), None, datetime.date(2026, 1, 1))
    assert [f.rule for f in findings] == ["SM100"]
