"""examples/: the processing container passes the Dockerfile check, its job request is valid, the CI
files parse and call `sm-lint gate` with flags the CLI accepts, and process.py keeps the contract.

The example image is FROM python:3.12-slim, which cannot be pulled here (no registry), so it is not
built: the CI files' gate command is run as written against an unreachable engine, which checks the
Dockerfile layer, writes every report and exits 3 (the image and runtime layers skipped).
PyYAML comes with pre-commit (a test dependency).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from junitparser import JUnitXml

from sm_lint.catalogue import Catalogue
from sm_lint.console import ONLY_WHEN_BUILDING
from sm_lint.gate_command import GateOptions, merged_options
from sm_lint.harness.jobspec import Overrides, load_request, validate

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PROCESSING = EXAMPLES / "processing"
UNREACHABLE = "tcp://127.0.0.1:1"


def _env() -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    for name in ("SM_LINT_DEBUG", "DOCKER_HOST"):
        env.pop(name, None)
    return env


def sm_lint(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sm_lint", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_example_dockerfile_has_no_findings() -> None:
    done = sm_lint(["check", "--format", "json", "examples/processing/Dockerfile"], ROOT)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["findings"] == [] and document["summary"]["targets"] == 1


def test_example_job_is_a_valid_request_for_the_exec_form_image() -> None:
    request = load_request(str(PROCESSING / "job.json"), Overrides(image="csv-summary:dev"))
    assert validate(request) == []  # no SM300: SageMaker would accept it
    app = request["AppSpecification"]
    assert app["ImageUri"] == "csv-summary:dev" and app["ContainerArguments"] == ["--delimiter", ","]
    assert [i["S3Input"]["LocalPath"] for i in request["ProcessingInputs"]] == ["/opt/ml/processing/input/data"]
    assert [o["S3Output"]["LocalPath"] for o in request["ProcessingOutputConfig"]["Outputs"]] == [
        "/opt/ml/processing/output/summary"]
    assert "process.py" in (PROCESSING / "Dockerfile").read_text()


def test_example_gate_table_names_files_that_exist() -> None:
    options = merged_options(GateOptions(config_file=PROCESSING / "pyproject.toml"))
    assert Path(options.dockerfile or "") == PROCESSING / "Dockerfile" and Path(options.job or "").is_file()
    assert Path(options.context or "") == PROCESSING and options.build is True
    assert options.scenarios == ("completion", "stop") and options.image == "csv-summary:dev"
    assert sorted(item.split("=")[0] for item in options.reports) == ["html", "json", "junit"]


# -- the CI files ------------------------------------------------------------------------------------

def _gate_command(script: str, variables: Dict[str, str]) -> List[str]:
    """The `sm-lint gate ...` command of a CI step, its variables filled in as the shell would."""
    for name, value in variables.items():
        script = script.replace(f'"${name}"', shlex.quote(value)).replace(f"${name}", value)
    words = shlex.split(script)
    assert words[:2] == ["sm-lint", "gate"], words
    return words[2:]


def _report_paths(args: List[str]) -> Dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, word in enumerate(args) if word == "--report")


def _run_ci_gate(args: List[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """The CI command in a copy of the repository's examples, against an engine that is not there
    (the example image cannot be built here): the Dockerfile is checked, every report written,
    exit 3."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / ".git").mkdir()
    done = sm_lint(["gate", *args, "--docker-host", UNREACHABLE], tmp_path)
    assert done.returncode == 3, (done.stdout, done.stderr)
    no_engine = f"cannot reach a Docker engine at {UNREACHABLE}: Connection refused"
    assert done.stderr.splitlines()[-1] == f"sm-lint: error: {no_engine}"
    for path in _report_paths(args).values():
        assert (tmp_path / path).stat().st_size > 0, path
    return done


def test_github_workflow_gates_and_publishes_every_report(tmp_path: Path) -> None:
    workflow = yaml.safe_load((EXAMPLES / ".github" / "workflows" / "sm-lint.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as true
    assert set(triggers) == {"push", "pull_request"}
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["gate"]["steps"]
    by_uses = {step["uses"].split("@")[0]: step for step in steps if "uses" in step}
    runs = [step["run"] for step in steps if "run" in step]
    assert any(run.startswith("docker build") for run in runs)
    (gate,) = [run for run in runs if run.startswith("sm-lint gate")]
    args = _gate_command(gate, {"CONTAINER_DIR": workflow["env"]["CONTAINER_DIR"], "IMAGE": "csv-summary:ci"})
    assert args[args.index("--format") + 1] == "github"
    reports = _report_paths(args)
    assert sorted(reports) == ["html", "junit", "sarif"]
    assert by_uses["github/codeql-action/upload-sarif"]["with"]["sarif_file"] == reports["sarif"]
    assert by_uses["actions/upload-artifact"]["with"]["path"] == reports["html"]
    assert by_uses["mikepenz/action-junit-report"]["with"]["report_paths"] == reports["junit"]
    for step in (by_uses["github/codeql-action/upload-sarif"], by_uses["actions/upload-artifact"]):
        assert "!cancelled()" in step["if"]  # published when the gate fails too

    done = _run_ci_gate(args, tmp_path)
    # --format github: an annotation per finding (the example has none), then the summary line
    # (no engine answers here: the image and runtime rules are skipped, and said to be)
    # (rules of the other profiles' contracts are listed as skipped too, but the text does not count them)
    skipped = sum(1 for rule in Catalogue.load() if rule.layer in ("image", "runtime")
                  and rule.id not in ONLY_WHEN_BUILDING and rule.applies("processing"))  # no --build
    assert done.stdout == f"2 targets gated ({skipped} rules skipped): no problems\n"
    suites = [suite.name for suite in JUnitXml.fromfile(str(tmp_path / reports["junit"]))]
    assert suites == ["sm-lint dockerfile: examples/processing/Dockerfile", "sm-lint image: csv-summary:ci",
                      "sm-lint runtime: csv-summary:ci"]
    sarif = json.loads((tmp_path / reports["sarif"]).read_text())
    assert sarif["runs"][0]["results"] == []


def test_gitlab_job_gates_and_publishes_every_report(tmp_path: Path) -> None:
    pipeline = yaml.safe_load((EXAMPLES / ".gitlab-ci.yml").read_text())
    job = pipeline["sm-lint-gate"]
    assert job["stage"] in pipeline["stages"]
    assert any(str(service).endswith("-dind") for service in job["services"])
    assert job["variables"]["DOCKER_HOST"].startswith("tcp://docker:")
    (gate,) = [line for line in job["script"] if line.startswith("sm-lint gate")]
    args = _gate_command(gate, {"CONTAINER_DIR": job["variables"]["CONTAINER_DIR"], "IMAGE": "csv-summary:ci"})
    reports = _report_paths(args)
    assert sorted(reports) == ["gitlab", "html", "junit"]
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"] == {"junit": reports["junit"], "codequality": reports["gitlab"]}
    assert artifacts["paths"] == [reports["html"]]

    _run_ci_gate(args, tmp_path)
    assert json.loads((tmp_path / reports["gitlab"]).read_text()) == []  # Code Quality: no issue


# -- process.py ----------------------------------------------------------------------------------------

def _process(tmp_path: Path, *args: str, code: str = "") -> subprocess.CompletedProcess:
    """process.py with its folders under tmp_path; `code` runs first (to stand in for a slow input)."""
    program = (f"import runpy, sys\nsys.argv = ['process.py', *sys.argv[1:]]\n{code}\n"
               f"runpy.run_path({str(PROCESSING / 'process.py')!r}, run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", program, "--input", str(tmp_path / "in"), "--output",
                           str(tmp_path / "out"), "--message-file", str(tmp_path / "message"), *args],
                          capture_output=True, text=True, timeout=60)


def test_process_summarises_the_input(tmp_path: Path) -> None:
    (tmp_path / "in" / "part").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_text("x;y;name\n1;2;a\n3;;b\n")
    (tmp_path / "in" / "part" / "b.csv").write_text("x;y;name\n5;6;c\n")
    done = _process(tmp_path, "--delimiter", ";")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {
        "files": 2, "rows": 3,
        "columns": {"x": {"count": 3, "min": 1.0, "max": 5.0, "mean": 3.0},
                    "y": {"count": 2, "min": 2.0, "max": 6.0, "mean": 4.0}}}
    assert not (tmp_path / "message").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["summary.json"]  # no temporary file left


def test_process_with_an_empty_input_writes_an_empty_summary(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()  # what the gate's run gets for the S3 URIs of job.json
    done = _process(tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {"files": 0, "rows": 0, "columns": {}}


def test_process_failure_writes_the_message_and_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("x,y\n1,2\n3\n")
    done = _process(tmp_path)
    assert done.returncode == 1
    assert (tmp_path / "message").read_text() == "bad input: a.csv:3: 1 fields, the header has 2"
    assert done.stderr == "error: bad input: a.csv:3: 1 fields, the header has 2\n"
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_process_stops_on_the_stop_signal(tmp_path: Path, signum: int) -> None:
    """The signal arrives while the input is read (os.kill from inside the read, so no timing is
    involved): the handlers that main() installed end the job with 128+signal and a message."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("x\n1\n")
    slow_read = ("import csv, os, signal\n_reader = csv.reader\n"
                 f"def reader(*a, **k):\n    os.kill(os.getpid(), {int(signum)})\n    return _reader(*a, **k)\n"
                 "csv.reader = reader")
    done = _process(tmp_path, code=slow_read)
    name = signal.Signals(signum).name
    assert done.returncode == 128 + signum, done.stderr
    assert (tmp_path / "message").read_text() == f"stopped by {name} before the summary was written"
    assert not (tmp_path / "out").exists()
