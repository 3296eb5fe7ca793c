"""Done when: the Docker engine and the sagemaker engine give the same report for the same
scenarios. One image that fails as a Processing job fails (a line on stderr, a message in
/opt/ml/output/message, exit 3) runs on the local engine for real, and the same job's SageMaker
story (Failed, AlgorithmError, the ExitMessage, the same log line in CloudWatch) is played to the
sagemaker engine by botocore's Stubber; both JSON reports must have the same structure: keys,
rules, severities, where findings point, the evidence's layout, the skipped rules, the summary and
the facts both engines state.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from docker_support import build_image
from moto_support import NAME, Stubbed
from sm_lint.catalogue import Catalogue
from sm_lint.console import emit
from sm_lint.harness.sagemaker import SageMakerOptions, aws, scenarios
from sm_lint.run_command import RunOptions, RunResult, run_harness

pytestmark = pytest.mark.docker
CATALOGUE = Catalogue.load()
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SCENARIOS = ("completion", "gpu")
FAILING = ('ENTRYPOINT ["/bin/busybox", "sh", "-c", "echo \'error: input table is empty\' >&2; '
           'printf \'input table is empty\' > /opt/ml/output/message; exit 3"]\n')


def report(result: RunResult, image: str, path: Path) -> Dict[str, Any]:
    emit("json", result.findings, "run", (image,), result.fail_on, {rule.id: rule.title for rule in CATALOGUE}, path,
         result.facts, rules=result.rules, skipped=result.skipped, target_layers=((image, "runtime"),),
         profile=result.profile)
    return dict(json.loads(path.read_text()))


def local_report(docker_client: Any, config: Path, tmp_path: Path) -> Tuple[str, Dict[str, Any]]:
    image = build_image(docker_client, "FROM scratch\nCOPY busybox /bin/busybox\n" + FAILING)
    result = run_harness(image, RunOptions(scenarios=SCENARIOS, config_file=config), CATALOGUE)
    return image, report(result, image, tmp_path / "local.json")


def sagemaker_report(image: str, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("InProgress")
    stubbed.describe("Failed", FailureReason="AlgorithmError: See job logs for more information",
                     ExitMessage="input table is empty")
    stubbed.streams("algo-1")
    stubbed.events(["error: input table is empty"], limit=20)
    monkeypatch.setattr(aws, "connect", lambda region=None: stubbed.clients)
    monkeypatch.setattr(scenarios.Context, "name", lambda self, scenario: NAME)
    with stubbed:
        result = run_harness(image, RunOptions(scenarios=SCENARIOS, config_file=config,
                                               sagemaker=SageMakerOptions(role=ROLE)), CATALOGUE)
    stubbed.done()
    return report(result, image, tmp_path / "sagemaker.json")


def test_same_report_structure_on_both_engines(docker_client: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / ".sm-lint.toml"
    config.write_text("")
    image, local = local_report(docker_client, config, tmp_path)
    cloud = sagemaker_report(image, config, tmp_path, monkeypatch)
    assert local.keys() == cloud.keys()
    assert local["command"] == cloud["command"] == "run"
    assert local["summary"] == cloud["summary"]
    # The same finding, pointing at the same place, with the same evidence layout.
    assert [f["rule"] for f in local["findings"]] == [f["rule"] for f in cloud["findings"]] == ["SM301"]
    (mine, theirs) = (local["findings"][0], cloud["findings"][0])
    assert mine.keys() == theirs.keys()
    for key in ("rule", "title", "severity", "path", "line", "column", "end_line", "fix"):
        assert mine[key] == theirs[key], key
    assert mine["message"].startswith("algo-1") and theirs["message"].startswith("algo-1")
    assert "(AlgorithmError: See job logs for more information)" in mine["message"]
    assert "(AlgorithmError: See job logs for more information)" in theirs["message"]
    assert mine["evidence"] == theirs["evidence"] == ["last log lines of algo-1:", "  error: input table is empty",
                                                      "ExitMessage: input table is empty"]
    # The same rules skipped (the gpu scenario on a CPU instance), each with a reason.
    assert sorted(s["rule"] for s in local["skipped"]) == sorted(s["rule"] for s in cloud["skipped"])
    assert all(s["reason"] for s in local["skipped"] + cloud["skipped"])
    # The facts both engines state, with the same values where the job is the same.
    shared = {"image", "profile", "scenarios", "job", "log algo-1", "timeline", "gpu scenario"}
    assert shared <= local["facts"].keys() and shared <= cloud["facts"].keys()
    for label in ("image", "profile", "scenarios", "job", "log algo-1"):
        assert local["facts"][label] == cloud["facts"][label], label


STUBBORN = ('ENTRYPOINT ["/bin/busybox", "sh", "-c", "trap \'echo not now\' INT; echo ready; '
            'while :; do /bin/busybox sleep 1; done"]\n')


def test_same_stop_report_structure_on_both_engines(docker_client: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A container that shrugs off SIGINT: SM310 on both engines, with the timeline and the log tail
    as evidence in the same layout; SM311/SM312 (PID 1's masks and children) only where a Docker
    engine shows them, and skipped with that reason on SageMaker."""
    import re

    from moto_support import NAME as JOB

    config = tmp_path / ".sm-lint.toml"
    config.write_text("")
    image = build_image(docker_client, "FROM scratch\nCOPY busybox /bin/busybox\n" + STUBBORN)
    options = dict(scenarios=("stop",), config_file=config, ready_log="ready", grace=2.0)
    local = report(run_harness(image, RunOptions(**options), CATALOGUE), image, tmp_path / "local.json")
    stubbed = Stubbed()
    stubbed.create()
    stubbed.describe("InProgress")
    stubbed.streams("algo-1")
    stubbed.describe("InProgress")
    stubbed.events(["ready"], head=True, forward="f/1")
    stubbed.events([], head=True, token="f/1", forward="f/1")
    stubbed.sm_stub.add_response("stop_processing_job", {}, {"ProcessingJobName": JOB})
    stubbed.describe("Stopping")
    stubbed.describe("Stopped")
    stubbed.events(["ready", "not now"], limit=10)
    monkeypatch.setattr(aws, "connect", lambda region=None: stubbed.clients)
    monkeypatch.setattr(scenarios.Context, "name", lambda self, scenario: JOB)
    with stubbed:
        # grace 0: the Stubber's Stopped comes at once, so only a zero grace makes it "late"
        result = run_harness(image, RunOptions(**dict(options, grace=0.0), sagemaker=SageMakerOptions(role=ROLE,
                                                                                                      stop_grace=0.0)),
                             CATALOGUE)
    stubbed.done()
    cloud = report(result, image, tmp_path / "sagemaker.json")
    assert local.keys() == cloud.keys()
    assert "SM310" in [f["rule"] for f in local["findings"]] and [f["rule"] for f in cloud["findings"]] == ["SM310"]
    mine = next(f for f in local["findings"] if f["rule"] == "SM310")
    theirs = cloud["findings"][0]
    for key in ("rule", "title", "severity", "path", "line", "fix"):
        assert mine[key] == theirs[key], key
    for evidence in (mine["evidence"], theirs["evidence"]):
        heading = evidence.index("last log lines of algo-1:")
        assert all(re.match(r"t\+\d+\.\d{3}s ", line) for line in evidence[:heading])  # the timeline
        assert all(line.startswith("  ") for line in evidence[heading + 1:]) and "  not now" in evidence
    assert {"stop timeline", "stop verdict", "log algo-1"} <= cloud["facts"].keys()
    assert {"stop timeline", "stop verdict"} <= local["facts"].keys()
    local_only = {f["rule"] for f in local["findings"]} - {"SM310"}
    skipped = {s["rule"]: s["reason"] for s in cloud["skipped"]}
    assert local_only <= {"SM311", "SM312"} and all("Docker engine" in skipped[rule] for rule in ("SM311", "SM312"))
