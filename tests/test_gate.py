"""`sm-lint gate` against a real Docker engine: the Dockerfile check, `--build`, inspect and the
harness in one command, the reports it writes, the exit codes, `--baseline`, `[tool.sm-lint.gate]`
and the progress on stderr.

The CLI runs as a process where exit codes, stderr and written files are the point; `run_gate` in
process elsewhere. Every image `gate --build` makes is tagged `sm-lint-test/gate-<uuid>:1` and
removed by the `tags` fixture (the gate's builds carry no test label): nothing is left in the engine.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional

import jsonschema
import pytest
import xmlschema
from junitparser import Failure, JUnitXml, Skipped

from docker_support import unavailable
from sm_lint.catalogue import Catalogue
from sm_lint.gate_command import GateOptions, merged_options, run_gate
from sm_lint.report import OUTSIDE_PROFILE

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CATALOGUE = Catalogue.load()
DOCKERFILE_RULES = sorted(r.id for r in CATALOGUE if r.layer == "dockerfile")
IMAGE_RULES = sorted(r.id for r in CATALOGUE if r.layer == "image")
RUNTIME_RULES = sorted(r.id for r in CATALOGUE if r.layer == "runtime")
PROCESSING = {r.id for r in CATALOGUE if r.applies("processing")}  # the gate's default profile


def _outside(case: Any) -> bool:
    """A JUnit case skipped because its rule does not apply under the profile."""
    return bool(case.is_skipped and case.result and str(case.result[0].message).startswith("does not apply under"))
UNREACHABLE = "tcp://127.0.0.1:1"
NO_ENGINE = f"cannot reach a Docker engine at {UNREACHABLE}: Connection refused"

# A processing job in miniature: counts the lines of its input and writes the count as its output.
PROCESS_SH = ("#!/bin/busybox sh\nset -e\nin=/opt/ml/processing/input/data\nout=/opt/ml/processing/output/summary\n"
              "/bin/busybox cat \"$in\"/*.csv | /bin/busybox wc -l > \"$out/lines.txt\"\n")
GOOD = ('FROM scratch\nCOPY busybox /bin/busybox\nCOPY process.sh /opt/program/process.sh\n'
        'ENTRYPOINT ["/bin/busybox", "sh", "/opt/program/process.sh"]\n')
# Shell form: /bin/sh -c runs the program, which needs its ContainerArguments; the shell drops them.
NEEDS_ARGS_SH = ('#!/bin/busybox sh\n[ "$1" = "--mode" ] || { echo "usage: process.sh --mode MODE" >&2; exit 2; }\n'
                 'echo "mode $2"\n')
SHELL_FORM = ('FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nCOPY process.sh /opt/program/process.sh\n'
              'ENTRYPOINT /bin/busybox sh /opt/program/process.sh\n')


# -- helpers ---------------------------------------------------------------------------------------

class Process(NamedTuple):
    code: int
    stdout: str
    stderr: str


def _env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    for name in ("SM_LINT_DEBUG", "DOCKER_HOST", "NO_COLOR"):
        env.pop(name, None)
    env.update(extra)
    return env


def sm_lint(*args: str, cwd: Path, timeout: float = 300) -> Process:
    """The CLI as a user runs it: stdout and stderr are pipes (not a terminal)."""
    done = subprocess.run([sys.executable, "-m", "sm_lint", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Process(done.returncode, done.stdout, done.stderr)


def junit_valid(path: Path) -> JUnitXml:
    text = path.read_text(encoding="utf-8")
    xmlschema.XMLSchema(str(DATA / "junit-10.xsd")).validate(text)
    return JUnitXml.fromstring(text)


def suites(xml: JUnitXml) -> Dict[str, Any]:
    return {suite.name: suite for suite in xml}


def cases(suite: Any) -> Dict[str, Any]:
    return {case.name.split()[0]: case for case in suite}


def sarif_valid(path: Path) -> Dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(document))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return document


def rules_of(findings: List[Dict[str, Any]]) -> List[str]:
    return sorted(f["rule"] for f in findings)


def image_exists(client: Any, reference: str) -> bool:
    import docker.errors

    try:
        client.images.get(reference)
        return True
    except docker.errors.ImageNotFound:
        return False


@pytest.fixture
def tags(docker_client: Any) -> Iterator[Callable[[], str]]:
    """New unique tags for `gate --build`; each image built under one is removed at the end (with
    its untagged parent layers), whatever the test did."""
    import docker.errors

    made: List[str] = []

    def new() -> str:
        made.append(f"sm-lint-test/gate-{uuid.uuid4().hex[:12]}:1")
        return made[-1]

    try:
        yield new
    finally:
        for tag in made:
            try:
                docker_client.images.remove(tag, force=True)
            except docker.errors.ImageNotFound:
                pass
        assert not [tag for tag in made if image_exists(docker_client, tag)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A repository root (its own `.git`, so no config above it is found) with busybox for the
    FROM-scratch Dockerfiles and an empty `.sm-lint.toml` that keeps any other settings out."""
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        unavailable(f"no static busybox at {busybox} (install busybox-static)")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copy(busybox, root / "busybox")
    (root / ".sm-lint.toml").write_text("")
    return root


# What the completion step says up front about its wait (the job's MaxRuntimeInSeconds is 600).
RUNTIME_WORDS = ("waits until it ends, up to 600 s (MaxRuntimeInSeconds); --max-runtime S or the job's "
                 "StoppingCondition sets a shorter bound")


def write_job(path: Path, data: Optional[Path] = None, out: Optional[Path] = None,
              arguments: Optional[List[str]] = None) -> Path:
    """A CreateProcessingJob request; local folders stand in for S3 (`file://` URIs)."""
    app: Dict[str, Any] = {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gate-test:latest"}
    if arguments is not None:
        app["ContainerArguments"] = arguments
    request: Dict[str, Any] = {
        "ProcessingJobName": "gate-test",
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerProcessingRole",
        "AppSpecification": app,
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                                  "VolumeSizeInGB": 30}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    if data is not None:
        request["ProcessingInputs"] = [{"InputName": "data", "S3Input": {
            "S3Uri": data.as_uri(), "LocalPath": "/opt/ml/processing/input/data", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}}]
    if out is not None:
        request["ProcessingOutputConfig"] = {"Outputs": [{"OutputName": "summary", "S3Output": {
            "S3Uri": out.as_uri(), "LocalPath": "/opt/ml/processing/output/summary", "S3UploadMode": "EndOfJob"}}]}
    path.write_text(json.dumps(request, indent=2))
    return path


def good_project(project: Path) -> Path:
    (project / "Dockerfile").write_text(GOOD)
    (project / "process.sh").write_text(PROCESS_SH)
    data = project / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "b.csv").write_text("3,4\n")
    write_job(project / "job.json", data, project / "out")
    return project


# -- a good image ----------------------------------------------------------------------------------

def test_good_image_builds_passes_and_every_report_is_written(project: Path, tags: Callable[[], str],
                                                               docker_client: Any) -> None:
    good_project(project)
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--job", "job.json",
                   "--report", "junit=gate.xml", "--report", "html=gate.html", "--report", "sarif=gate.sarif",
                   "--report", "json=gate.json", cwd=project)
    assert gate.code == 0, gate
    assert gate.stdout.splitlines()[-1] == "2 targets gated: no problems"
    assert (project / "out" / "lines.txt").read_text().strip() == "3"  # the job really ran, with its input
    assert image_exists(docker_client, tag)

    xml = junit_valid(project / "gate.xml")
    by_name = suites(xml)
    assert list(by_name) == ["sm-lint dockerfile: Dockerfile", f"sm-lint image: {tag}", f"sm-lint runtime: {tag}"]
    assert (xml.tests, xml.failures, xml.errors) == (sum(s.tests for s in xml), 0, 0)
    assert sorted(cases(by_name["sm-lint dockerfile: Dockerfile"])) == DOCKERFILE_RULES
    image = cases(by_name[f"sm-lint image: {tag}"])
    assert sorted(image) == IMAGE_RULES and all(case.is_passed or _outside(case) for case in image.values())
    assert image["SM200"].name == "SM200 The image does not build"  # the build is a test case that passed
    runtime = cases(by_name[f"sm-lint runtime: {tag}"])
    # the completion scenario's rules (SM341, training's, listed as outside the profile)
    assert sorted(rule for rule in runtime if rule in PROCESSING) == ["SM300", "SM301", "SM302", "SM303"]
    assert all(case.is_passed or _outside(case) for case in runtime.values())

    document = json.loads((project / "gate.json").read_text())
    assert document["command"] == "gate" and document["findings"] == []
    assert [item for item in document["skipped"] if not item["reason"].startswith("does not apply under")] == []
    assert document["facts"]["job"] == "Completed" and document["facts"]["image"] == tag
    assert document["summary"] == {"targets": 2, "findings": 0, "by_severity": {"error": 0, "warning": 0, "info": 0},
                                   "fail_on": "warning", "failed": False}

    (run_,) = sarif_valid(project / "gate.sarif")["runs"]
    assert run_["results"] == []
    assert {rule["id"] for rule in run_["tool"]["driver"]["rules"]} >= {"SM101", "SM200", "SM201", "SM301"}

    html = (project / "gate.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and tag in html and "Completed" in html


# -- shell form, built and gated -------------------------------------------------------------------

def test_shell_form_entrypoint_is_confirmed_in_the_image_and_fails_the_job(project: Path,
                                                                           tags: Callable[[], str]) -> None:
    (project / "Dockerfile").write_text(SHELL_FORM)
    (project / "process.sh").write_text(NEEDS_ARGS_SH)
    write_job(project / "job.json", arguments=["--mode", "full"])
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--job", "job.json",
                   "--report", "json=gate.json", "--report", "junit=gate.xml", cwd=project)
    assert gate.code == 1, gate
    document = json.loads((project / "gate.json").read_text())
    found = {f["rule"]: f for f in document["findings"]}
    assert rules_of(document["findings"]) == ["SM101", "SM202", "SM301"], document["findings"]

    shell = found["SM101"]  # the Dockerfile's finding, confirmed by the image (SM201 merged into it)
    assert (shell["path"], shell["line"]) == ("Dockerfile", 5)
    assert shell["evidence"] == [f"confirmed in the built image {tag} (SM201)"]
    dropped = found["SM202"]  # the job's ContainerArguments, which /bin/sh -c drops: seen in the image...
    assert dropped["path"] == tag
    assert dropped["message"] == ("ContainerArguments ['--mode', 'full'] would be ignored: the shell-form Entrypoint "
                                  "['/bin/sh', '-c', '/bin/busybox sh /opt/program/process.sh'] does not pass them "
                                  "to the program")
    failed = found["SM301"]  # ...and what it does to the job when it runs
    assert failed["path"] == tag
    assert failed["message"] == ("algo-1 exited with code 2: the job would be Failed (AlgorithmError: See job logs "
                                 "for more information)")
    assert failed["evidence"] == ["last log lines of algo-1:", "  usage: process.sh --mode MODE"]
    # The command Processing runs for this request: the arguments become the shell's $0 and $1.
    assert document["facts"]["request"].startswith("ContainerArguments only")
    assert document["facts"]["effective command"] == "/bin/sh -c '/bin/busybox sh /opt/program/process.sh' --mode full"

    by_name = suites(junit_valid(project / "gate.xml"))
    assert cases(by_name["sm-lint dockerfile: Dockerfile"])["SM101"].result  # failed there, once
    # The image has the defect too: its suite fails SM201, pointing at the one report of it.
    (twin,) = cases(by_name[f"sm-lint image: {tag}"])["SM201"].result
    assert isinstance(twin, Failure) and twin.message.endswith("the same defect as SM101 at Dockerfile:5, reported once, there")
    (failure,) = cases(by_name[f"sm-lint runtime: {tag}"])["SM301"].result
    assert isinstance(failure, Failure) and "exited with code 2" in failure.message


# -- a Dockerfile that does not build --------------------------------------------------------------

def test_build_failure_is_sm200_and_the_other_layers_are_skipped_with_the_reason(
        project: Path, tags: Callable[[], str], docker_client: Any) -> None:
    # The COPY that fails is the first step after FROM scratch: a failed classic build leaves the
    # images of its earlier steps behind, and here there are none.
    (project / "Dockerfile").write_text('FROM scratch\nCOPY missing.py /opt/ml/code/process.py\n'
                                        'ENTRYPOINT ["/opt/ml/code/process.py"]\n')
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build",
                   "--report", "json=gate.json", "--report", "junit=gate.xml", cwd=project)
    assert gate.code == 1, gate
    assert not image_exists(docker_client, tag)
    document = json.loads((project / "gate.json").read_text())
    assert rules_of(document["findings"]) == ["SM110", "SM200"]  # the Dockerfile layer is still reported
    build = next(f for f in document["findings"] if f["rule"] == "SM200")
    assert build["severity"] == "error" and build["path"] == tag
    assert build["message"].startswith("the image does not build: COPY failed: ")
    assert "missing.py" in build["message"]
    assert "Step 2/3 : COPY missing.py /opt/ml/code/process.py" in build["evidence"]
    assert not [line for line in build["evidence"] if re.fullmatch(r" ---> [0-9a-f]{12}", line)]
    reason = "the image did not build (SM200)"
    assert [item for item in document["skipped"] if not item["reason"].startswith("does not apply under")] == [
        {"rule": rule, "reason": reason} for rule in IMAGE_RULES + RUNTIME_RULES if rule != "SM200" and rule in PROCESSING]

    by_name = suites(junit_valid(project / "gate.xml"))
    assert list(by_name) == ["sm-lint dockerfile: Dockerfile", f"sm-lint image: {tag}", f"sm-lint runtime: {tag}"]
    image = cases(by_name[f"sm-lint image: {tag}"])
    (failure,) = image["SM200"].result
    assert isinstance(failure, Failure) and "COPY failed" in failure.message
    for rule in IMAGE_RULES:
        if rule != "SM200":
            assert image[rule].is_skipped and (image[rule].result[0].message == reason or _outside(image[rule])), rule
    runtime = cases(by_name[f"sm-lint runtime: {tag}"])
    assert sorted(runtime) == RUNTIME_RULES
    assert all(isinstance(case.result[0], Skipped) and (case.result[0].message == reason or _outside(case))
               for case in runtime.values())


def test_build_rule_is_stamped_like_every_rule(project: Path, tags: Callable[[], str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The config's severity for SM200 and its ignores apply to the build's verdict too."""
    (project / "Dockerfile").write_text('FROM scratch\nCOPY missing.txt /opt/program/missing.txt\n'
                                        'ENTRYPOINT ["/opt/program/missing.txt"]\n')
    (project / ".sm-lint.toml").write_text('fail-on = "error"\nseverity = { SM200 = "warning" }\n')
    monkeypatch.chdir(project)
    options = GateOptions(dockerfile="Dockerfile", image=tags(), build=True, quiet=True)
    demoted = run_gate(options, CATALOGUE)
    assert [(f.rule, f.severity.label) for f in demoted.findings] == [("SM200", "warning")]
    assert demoted.exit_code == 0 and "SM200" in demoted.rules

    ignored = run_gate(options._replace(ignore=("SM200",)), CATALOGUE)
    assert ignored.findings == [] and "SM200" not in ignored.rules
    assert ("SM200", "ignored by --ignore or the config") in ignored.skipped
    assert ("SM201", "the image did not build (SM200)") in ignored.skipped  # still nothing to inspect


def test_ignored_rules_are_skipped_with_their_reason_in_every_layer(project: Path, tags: Callable[[], str]) -> None:
    good_project(project)
    (project / ".sm-lint.toml").write_text(
        'ignore = [{ id = "SM114", reason = "folders for local runs" }, { id = "SM230", reason = "arm too" }]\n')
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--job", "job.json",
                   "--ignore", "SM102", "--report", "junit=gate.xml", "--quiet", cwd=project)
    assert gate.code == 0, gate
    by_name = suites(junit_valid(project / "gate.xml"))
    dockerfile = cases(by_name["sm-lint dockerfile: Dockerfile"])
    assert sorted(dockerfile) == DOCKERFILE_RULES  # the ignored ones are listed, as skipped
    assert dockerfile["SM102"].result[0].message == "ignored by --ignore"
    config = project / ".sm-lint.toml"
    assert dockerfile["SM114"].result[0].message == f"ignored by {config}: folders for local runs"
    assert dockerfile["SM101"].is_passed
    image = cases(by_name[f"sm-lint image: {tag}"])
    assert sorted(image) == IMAGE_RULES
    assert image["SM230"].is_skipped and image["SM230"].result[0].message == f"ignored by {config}: arm too"
    assert image["SM201"].is_passed


# -- no engine -------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [False, True], ids=["existing-image", "build"])
def test_unreachable_engine_reports_the_dockerfile_layer_and_exits_3(project: Path, build: bool) -> None:
    (project / "Dockerfile").write_text(SHELL_FORM)
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", "sm-lint-test/gate-never:1",
                   *(["--build"] if build else []), "--docker-host", UNREACHABLE, "--quiet",
                   "--report", "json=gate.json", "--report", "junit=gate.xml", cwd=project)
    assert gate.code == 3, gate
    assert gate.stderr.splitlines() == [f"sm-lint: error: {NO_ENGINE}"]
    assert gate.stdout.startswith(f"not checked: {NO_ENGINE}\n")
    assert "Dockerfile:5:1: SM101 error: ENTRYPOINT is in shell form" in gate.stdout

    document = json.loads((project / "gate.json").read_text())
    assert rules_of(document["findings"]) == ["SM101"] and document["facts"] == {"not checked": NO_ENGINE}
    reason = f"{'not built' if build else 'not checked'}: {NO_ENGINE}"
    expected = [rule for rule in IMAGE_RULES + RUNTIME_RULES if build or rule != "SM200"]
    outside = [entry for entry in document["skipped"] if entry["reason"].startswith(OUTSIDE_PROFILE)]
    # the training/hosting rules, each said to be outside the processing profile
    assert [entry["rule"] for entry in outside] == [rule.id for rule in CATALOGUE if not rule.applies("processing")]
    assert [entry for entry in document["skipped"] if entry not in outside] == \
        [{"rule": rule, "reason": reason} for rule in expected if CATALOGUE[rule].applies("processing")]

    by_name = suites(junit_valid(project / "gate.xml"))
    assert list(by_name) == ["sm-lint dockerfile: Dockerfile", "sm-lint image: sm-lint-test/gate-never:1",
                             "sm-lint runtime: sm-lint-test/gate-never:1"]
    assert by_name["sm-lint dockerfile: Dockerfile"].failures == 1
    for layer in ("image", "runtime"):
        suite = by_name[f"sm-lint {layer}: sm-lint-test/gate-never:1"]
        assert suite.skipped == suite.tests > 0 and suite.failures == 0
        assert {case.result[0].message for case in suite if not case.result[0].message.startswith(OUTSIDE_PROFILE)} \
            == {reason}


def test_missing_image_is_exit_3_with_the_dockerfile_layer_reported(project: Path, docker_client: Any) -> None:
    (project / "Dockerfile").write_text(GOOD)
    missing = f"sm-lint-test/gate-missing-{uuid.uuid4().hex[:12]}:1"
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", missing, "--report", "json=gate.json", cwd=project)
    assert gate.code == 3, gate
    (error,) = [line for line in gate.stderr.splitlines() if "error" in line]
    assert error.startswith(f"sm-lint: error: image {missing} not found in the engine at ")
    assert gate.stderr.splitlines()[:2] == ["sm-lint: checking Dockerfile", f"sm-lint: inspecting {missing}"]
    document = json.loads((project / "gate.json").read_text())
    assert document["findings"] == [] and document["facts"]["not checked"] == error[len("sm-lint: error: "):]
    assert {item["rule"] for item in document["skipped"] if not item["reason"].startswith(OUTSIDE_PROFILE)} == \
        set(IMAGE_RULES + RUNTIME_RULES) & PROCESSING - {"SM200"}
    assert not image_exists(docker_client, missing)  # the gate never pulls


def test_dockerfile_only_gate_needs_no_engine(project: Path) -> None:
    (project / "Dockerfile").write_text(SHELL_FORM)
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--docker-host", UNREACHABLE, "--report", "junit=j.xml",
                   cwd=project)
    assert gate.code == 1, gate
    assert gate.stderr == "sm-lint: checking Dockerfile\n"
    assert list(suites(junit_valid(project / "j.xml"))) == ["sm-lint dockerfile: Dockerfile"]


def test_output_is_the_report_file_as_in_every_command(project: Path) -> None:
    """`-o/--output FILE`: the --format report goes there instead of stdout (check, inspect, run, gate
    alike); a path that cannot be written is exit 2 before any work."""
    (project / "Dockerfile").write_text(SHELL_FORM)
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--docker-host", UNREACHABLE, "-f", "json", "-o", "gate.json",
                   "--quiet", cwd=project)
    assert gate.code == 1, gate
    assert gate.stdout == ""
    document = json.loads((project / "gate.json").read_text())
    assert document["command"] == "gate" and [f["rule"] for f in document["findings"]] == ["SM101"]
    bad = sm_lint("gate", "--dockerfile", "Dockerfile", "--output", "no/such/gate.json", "--quiet", cwd=project)
    assert bad.code == 2 and bad.stderr == ("sm-lint: error: --output 'no/such/gate.json': cannot write report: "
                                            "no directory 'no/such'\n"), bad


# -- baseline --------------------------------------------------------------------------------------

def test_baseline_accepts_known_findings_and_fails_on_new_ones(project: Path, tags: Callable[[], str]) -> None:
    (project / "Dockerfile").write_text(SHELL_FORM)
    (project / "process.sh").write_text(NEEDS_ARGS_SH)
    write_job(project / "job.json", arguments=["--mode", "full"])
    first = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tags(), "--build", "--job", "job.json",
                    "--report", "json=baseline.json", "--quiet", cwd=project)
    assert first.code == 1, first
    recorded = json.loads((project / "baseline.json").read_text())["findings"]
    assert rules_of(recorded) == ["SM101", "SM202", "SM301"]

    # A later CI run: a new tag (the image reference is not part of a match) and the Dockerfile
    # edited above the known problem (nor is the line).
    (project / "Dockerfile").write_text("# the processing container\n" + SHELL_FORM)
    again = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tags(), "--build", "--job", "job.json",
                    "--baseline", "baseline.json", "--report", "json=now.json", "--quiet", cwd=project)
    assert again.code == 0, again
    document = json.loads((project / "now.json").read_text())
    assert document["findings"] == []
    assert document["facts"]["baseline"] == "3 known findings accepted from baseline.json"
    assert again.stdout.splitlines()[-1] == "2 targets gated: no problems"

    # A new problem: data baked under /opt/ml. Only it is reported, and it fails the gate.
    baked = SHELL_FORM.replace("ENTRYPOINT", "COPY data.csv /opt/ml/input/data.csv\nENTRYPOINT")
    (project / "Dockerfile").write_text(baked)
    (project / "data.csv").write_text("1,2\n")
    new = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tags(), "--build", "--job", "job.json",
                  "--baseline", "baseline.json", "--report", "json=now.json", "--quiet", cwd=project)
    assert new.code == 1, new
    document = json.loads((project / "now.json").read_text())
    assert rules_of(document["findings"]) == ["SM110"], document["findings"]
    assert document["findings"][0]["evidence"][0].startswith("confirmed in the built image")  # SM210 merged
    assert document["facts"]["baseline"] == "3 known findings accepted from baseline.json"


def test_baseline_matches_the_same_dockerfile_however_its_path_is_spelt(project: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "Dockerfile").write_text(SHELL_FORM)
    monkeypatch.chdir(project)
    gate = sm_lint("gate", "--dockerfile", "./Dockerfile", "--report", "json=baseline.json", "--quiet", cwd=project)
    assert gate.code == 1
    assert json.loads((project / "baseline.json").read_text())["findings"][0]["path"] == "./Dockerfile"
    for spelling in ("Dockerfile", str(project / "Dockerfile")):
        result = run_gate(GateOptions(dockerfile=spelling, baseline="baseline.json", quiet=True), CATALOGUE)
        assert (result.findings, result.exit_code) == ([], 0), spelling


def test_baseline_that_is_not_a_json_report_is_a_usage_error(project: Path) -> None:
    (project / "Dockerfile").write_text(GOOD)
    (project / "baseline.json").write_text('{"version": 1}')
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--baseline", "baseline.json", cwd=project)
    assert gate.code == 2
    assert gate.stderr.splitlines() == [
        "sm-lint: error: baseline.json: the baseline is not a JSON report of sm-lint (version 1, with findings)"]


# -- [tool.sm-lint.gate] ---------------------------------------------------------------------------

def test_settings_from_pyproject_work_without_flags(project: Path, tags: Callable[[], str]) -> None:
    (project / ".sm-lint.toml").unlink()
    container = project / "container"
    container.mkdir()
    (project / "busybox").rename(container / "busybox")
    (container / "Dockerfile").write_text(SHELL_FORM)
    (container / "process.sh").write_text(NEEDS_ARGS_SH)
    write_job(container / "job.json", arguments=["--mode", "full"])
    (project / "reports").mkdir()
    tag = tags()
    (project / "pyproject.toml").write_text(
        '[tool.sm-lint]\nfail-on = "error"\n\n'
        '[tool.sm-lint.gate]\n'
        f'dockerfile = "container/Dockerfile"\nimage = "{tag}"\nbuild = true\njob = "container/job.json"\n'
        'scenario = ["completion"]\nreport = ["junit=reports/gate.xml", "json=reports/gate.json"]\n'
        'platform = "linux/amd64"\n')
    elsewhere = project / "docs"  # paths are relative to the file, not to the working folder
    elsewhere.mkdir()
    gate = sm_lint("gate", "--format", "text", cwd=elsewhere)  # the default format: no setting given
    assert gate.code == 1, gate
    document = json.loads((project / "reports" / "gate.json").read_text())
    assert rules_of(document["findings"]) == ["SM101", "SM202", "SM301"]
    assert document["summary"]["fail_on"] == "error"
    assert document["facts"]["image"] == tag
    assert list(suites(junit_valid(project / "reports" / "gate.xml"))) == [
        f"sm-lint dockerfile: {container / 'Dockerfile'}", f"sm-lint image: {tag}", f"sm-lint runtime: {tag}"]
    assert "sm-lint: building " + tag in gate.stderr


def test_flags_win_over_the_gate_table(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "sub").mkdir()
    (project / ".sm-lint.toml").write_text(
        '[gate]\ndockerfile = "sub/Dockerfile"\nimage = "from-config:1"\nbuild = true\ncontext = "sub"\n'
        'scenario = "stop"\nreport = ["junit=sub/j.xml"]\nbaseline = "b.json"\ndocker-host = "unix:///nope.sock"\n'
        'target = "final"\njob = "job.json"\n')
    monkeypatch.chdir(project / "sub")
    from_file = merged_options(GateOptions())
    assert from_file._replace(config_file=None) == GateOptions(
        dockerfile=str(project / "sub" / "Dockerfile"), image="from-config:1", build=True,
        context=str(project / "sub"), target="final", job=str(project / "job.json"), scenarios=("stop",),
        reports=(f"junit={project / 'sub' / 'j.xml'}",), baseline=str(project / "b.json"),
        docker_host="unix:///nope.sock", platform="linux/amd64")
    flags = GateOptions(dockerfile="D", image="i:2", build=False, context="c", target="t", job="j.json",
                        scenarios=("completion",), reports=("json=r.json",), baseline="x.json",
                        docker_host=UNREACHABLE, platform="linux/arm64")
    assert merged_options(flags) == flags


@pytest.mark.parametrize("table, message", [
    ('[gate]\nimage = "x:1"\nbuild-args = ["A=1"]\n', "unknown key build-args (known: baseline, build, channel, content-type, "
                                                      "context, docker-host, dockerfile, engine, hyperparameters, image, "
                                                      "job, jobs, model-data, payload, platform, region, report, role, "
                                                      "s3-prefix, scenario, target)"),
    ('[gate]\nbuild = "yes"\n', "build must be true or false"),
    ('[gate]\nengine = "lambda"\n', "engine 'lambda': expected one of docker, sagemaker"),
    ('[gate]\njobs = 0\n', "jobs must be a number, 1 or more"),
    ('[gate]\nscenario = [1]\n', "scenario must be a list of strings"),
    ('gate = 3\n', "must be a table"),
])
def test_bad_gate_table_is_a_one_line_usage_error(project: Path, table: str, message: str) -> None:
    (project / ".sm-lint.toml").write_text(table)
    (project / "Dockerfile").write_text(GOOD)
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", cwd=project)
    assert gate.code == 2, gate
    assert gate.stderr.splitlines() == [f"sm-lint: error: {project / '.sm-lint.toml'} [gate]: {message}"]
    assert gate.stdout == ""


# -- usage errors before any work ------------------------------------------------------------------

def test_bare_gate_uses_the_gate_table(project: Path) -> None:
    (project / "Dockerfile").write_text(GOOD)
    (project / "process.sh").write_text(PROCESS_SH)
    (project / ".sm-lint.toml").write_text('[gate]\ndockerfile = "Dockerfile"\n')
    gate = sm_lint("gate", cwd=project)
    assert (gate.code, gate.stdout) == (0, "1 target gated: no problems\n"), gate


def test_broken_job_file_is_exit_2_before_anything_is_built(project: Path, tags: Callable[[], str],
                                                            docker_client: Any) -> None:
    good_project(project)
    (project / "job.json").write_text('{"AppSpecification": {"ContainerArguments": "--mode full"}}')
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--job", "job.json", cwd=project)
    assert gate.code == 2, gate
    assert gate.stderr.splitlines() == [
        "sm-lint: error: job.json: AppSpecification.ContainerArguments: expected an array, got a string"]
    assert not image_exists(docker_client, tag)


def test_bad_report_path_is_exit_2_before_anything_is_built(project: Path, tags: Callable[[], str],
                                                           docker_client: Any) -> None:
    good_project(project)
    tag = tags()
    gate = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--report", "junit=gate.xml",
                   "--report", "html=no/such/folder/gate.html", cwd=project)
    assert gate.code == 2, gate
    assert gate.stderr.splitlines() == ["sm-lint: error: --report 'html=no/such/folder/gate.html': cannot write "
                                        "report: no directory 'no/such/folder'"]
    assert not image_exists(docker_client, tag)
    assert not (project / "gate.xml").exists()


@pytest.mark.parametrize("args, message", [
    ([], "gate: give --dockerfile, --image or both (or set them in [tool.sm-lint.gate])"),
    (["--dockerfile", "Dockerfile", "--build"], "gate: --build needs --dockerfile and --image (the tag to build)"),
    (["--image", "x:1", "--scenario", "halt"], "--scenario 'halt': expected one of completion, serve, stop, gpu, all"),
    (["--dockerfile", "Dockerfile", "--ignore", "SM999"], None),
])
def test_bad_flags_are_exit_2(project: Path, args: List[str], message: Optional[str]) -> None:
    (project / "Dockerfile").write_text(GOOD)
    gate = sm_lint("gate", *args, "--docker-host", UNREACHABLE, "--quiet", cwd=project)
    assert gate.code == 2, gate
    assert len(gate.stderr.splitlines()) == 1 and gate.stderr.startswith("sm-lint: error: "), gate.stderr
    if message:
        assert gate.stderr == f"sm-lint: error: {message}\n"


# -- progress --------------------------------------------------------------------------------------

def test_progress_lines_when_not_a_terminal_and_nothing_with_quiet(project: Path, tags: Callable[[], str]) -> None:
    good_project(project)
    tag = tags()
    args = ("gate", "--dockerfile", "Dockerfile", "--image", tag, "--build", "--job", "job.json", "--format", "json")
    gate = sm_lint(*args, cwd=project)
    assert gate.code == 0, gate
    assert gate.stderr.splitlines() == ["sm-lint: checking Dockerfile", f"sm-lint: building {tag}",
                                        f"sm-lint: inspecting {tag}",
                                        f"sm-lint: completion scenario: running {tag}; " + RUNTIME_WORDS]
    assert json.loads(gate.stdout)["findings"] == []  # stdout is the report alone

    quiet = sm_lint(*args, "--quiet", cwd=project)
    assert (quiet.code, quiet.stderr) == (0, "")
    assert json.loads(quiet.stdout)["findings"] == []


def _run_with_terminal_stderr(args: List[str], cwd: Path, timeout: float = 300) -> Process:
    """The CLI with stderr on a pseudo-terminal (what a person at a shell has) and stdout on a pipe
    (a report piped to a file): the pty's output is read as it comes, so the child never blocks."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "sm_lint", *args], cwd=cwd,
                               env=_env(TERM="xterm-256color", COLUMNS="100"), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks: List[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                raise AssertionError(f"no output from the pty for {timeout} s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = process.stdout.read().decode() if process.stdout else ""
        code = process.wait(timeout=timeout)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return Process(code, stdout, b"".join(chunks).decode("utf-8", "replace"))


def test_terminal_gets_a_spinner_and_step_lines_and_stdout_stays_the_report(project: Path,
                                                                            tags: Callable[[], str]) -> None:
    good_project(project)
    tag = tags()
    gate = _run_with_terminal_stderr(["gate", "--dockerfile", "Dockerfile", "--image", tag, "--build",
                                      "--job", "job.json", "--format", "json"], project)
    assert gate.code == 0, gate
    assert json.loads(gate.stdout)["summary"]["failed"] is False  # nothing of the spinner on stdout
    # What rich wrote (cursor hiding, redraws) between the lines, then each finished step with its time.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", gate.stderr).replace("\r", "\n")
    finished = [line for line in text.splitlines() if re.fullmatch(r"sm-lint: .+ \(\d+\.\d s\)", line)]
    assert [re.sub(r" \(\d+\.\d s\)$", "", line) for line in finished] == [
        "sm-lint: checking Dockerfile", f"sm-lint: building {tag}", f"sm-lint: inspecting {tag}",
        f"sm-lint: completion scenario: running {tag}; " + RUNTIME_WORDS]
    assert "\x1b[?25l" in gate.stderr and "\x1b[?25h" in gate.stderr  # rich hid the cursor, and gave it back

    quiet = _run_with_terminal_stderr(["gate", "--dockerfile", "Dockerfile", "--quiet", "--format", "json"], project)
    assert (quiet.code, quiet.stderr) == (0, "")


# -- the sagemaker engine: the runtime layer does not need this machine to read the image --------------
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/job:1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def test_sagemaker_gate_runs_the_job_when_the_image_cannot_be_read_here(aws: Any, tmp_path: Path) -> None:
    """An image only in its registry (no engine reachable here): the image layer is skipped with why
    and the `registry:` spelling, and the runtime layer still runs as a Processing job (moto's) of
    that image URI; a skip is no environment failure (exit 0, not 3)."""
    (tmp_path / ".sm-lint.toml").write_text("")
    done = sm_lint("gate", "--engine", "sagemaker", "--image", ECR_IMAGE, "--role", ROLE, "--docker-host", UNREACHABLE,
                   "-f", "json", cwd=tmp_path)
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    (sent,) = aws.requests("SageMaker.CreateProcessingJob")
    assert sent["AppSpecification"]["ImageUri"] == ECR_IMAGE
    assert report["facts"]["job"] == "Completed" and "not checked" not in report["facts"]
    assert report["facts"]["image layer"].startswith(f"skipped: not inspected: {ECR_IMAGE} cannot be read on this machine")
    reasons = {item["rule"]: item["reason"] for item in report["skipped"]}
    image_rules = [rule for rule in IMAGE_RULES if rule in PROCESSING and rule != "SM200"]  # SM200: only with --build
    assert all(f"`--image registry:{ECR_IMAGE}` reads it from its registry instead" in reasons[rule]
               for rule in image_rules)
    assert not {"SM301", "SM302", "SM303"} & set(reasons)  # the runtime layer ran


def test_sagemaker_gate_reports_the_jobs_findings_without_reading_the_image(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    """botocore's Stubber: the job of the unreadable image Fails; its SM301 fails the gate (exit 1)."""
    from moto_support import Stubbed
    from sm_lint.harness.sagemaker import aws as aws_module
    from sm_lint.harness.sagemaker import scenarios

    stubbed = Stubbed()
    monkeypatch.setattr(aws_module, "connect", lambda region=None: stubbed.clients)
    monkeypatch.setattr(scenarios.Context, "name", lambda self, scenario: "sm-lint-scenario-run")
    stubbed.create()
    stubbed.describe("Failed", FailureReason="AlgorithmError: See job logs for more information")
    stubbed.streams("algo-1")
    stubbed.events(["KeyError: 'region'"], limit=20)
    config_file = tmp_path / ".sm-lint.toml"
    config_file.write_text("")
    with stubbed:
        result = run_gate(GateOptions(image=ECR_IMAGE, engine="sagemaker", role=ROLE, docker_host=UNREACHABLE,
                                      config_file=config_file, quiet=True), CATALOGUE)
    stubbed.done()
    assert result.exit_code == 1
    assert [(finding.rule, finding.location.path) for finding in result.findings] == [("SM301", ECR_IMAGE)]
    assert dict(result.facts)["image layer"].startswith("skipped: not inspected")
    assert "SM301" in result.rules and not set(IMAGE_RULES) & set(result.rules)


def test_docker_gate_still_stops_at_an_unreadable_image(tmp_path: Path) -> None:
    """On the Docker engine the runtime layer needs the engine too: both layers skipped, exit 3."""
    (tmp_path / ".sm-lint.toml").write_text("")
    done = sm_lint("gate", "--image", ECR_IMAGE, "--docker-host", UNREACHABLE, "-q", "-f", "json", cwd=tmp_path)
    assert done.code == 3, done.stderr
    report = json.loads(done.stdout)
    reasons = {item["rule"]: item["reason"] for item in report["skipped"]}
    assert reasons["SM301"].startswith("not checked:") and "image layer" not in report["facts"]
