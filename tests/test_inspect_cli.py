"""`sm-lint inspect` and `sm-lint check --image` on archives, as a user runs them (no engine needed)."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from image_archives import Image, docker_save, oci_tar, write_image
from sm_lint.cli import app

SHELL_EP = {"Entrypoint": ["/bin/sh", "-c", "python3 /opt/ml/code/process.py"]}
LAYERS = [[("opt/ml/code/process.py", "file", 120)], [("usr/bin/nvidia-smi", "file", 10)]]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_findings_facts_and_exit_code(tmp_path: Path) -> None:
    archive = write_image(tmp_path / "img.tar", LAYERS, SHELL_EP, history=["COPY process.py /opt/ml/code/", "RUN apt-get install nvidia-utils-535"])
    result = run("inspect", archive, "-f", "json", "--arg", "--mode", "--arg", "full")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    # the driver file also makes it a GPU image, one without the CUDA toolkit (SM221)
    assert sorted(f["rule"] for f in report["findings"]) == ["SM201", "SM202", "SM210", "SM220", "SM221"]
    opt_ml = next(f for f in report["findings"] if f["rule"] == "SM210")
    assert opt_ml["evidence"] == ["/opt/ml/code/process.py (120 B, layer 0: COPY process.py /opt/ml/code/)"]
    assert report["facts"]["effective command"] == "/bin/sh -c 'python3 /opt/ml/code/process.py' --mode full"
    assert report["facts"]["request"] == "ContainerArguments only"
    assert report["facts"]["platform"] == "linux/amd64"


def test_text_report_lists_evidence_under_the_finding(tmp_path: Path) -> None:
    archive = write_image(tmp_path / "img.tar", LAYERS[:1], {"Entrypoint": ["python3", "/x.py"]})
    result = run("inspect", archive)
    lines = result.output.splitlines()
    assert lines[0] == "image: sm-lint-test:latest"
    finding = next(i for i, line in enumerate(lines) if " SM210 error: " in line)
    assert lines[finding].startswith(f"{archive}: SM210 error: 1 file (120 B) under /opt/ml")
    assert lines[finding + 1].strip().startswith("/opt/ml/code/process.py (120 B, layer 0")
    assert lines[-1].startswith("1 image checked: 1 finding")


def test_clean_image_exits_0_and_entrypoint_override(tmp_path: Path) -> None:
    archive = write_image(tmp_path / "img.tar", [[("opt/program/p.py", "file", 5)]], {"Entrypoint": ["python3", "/opt/program/p.py"]})
    assert run("inspect", archive).exit_code == 0
    override = json.loads(run("inspect", archive, "-f", "json", "--entrypoint", "bash", "--entrypoint", "/x.sh").output)
    assert override["facts"]["effective command"] == "bash /x.sh"


def test_oci_multi_platform_choice(tmp_path: Path) -> None:
    amd = Image([[("a", "file", 1)]], {"Cmd": ["true"]}, platform="linux/amd64")
    arm = Image([[("b", "file", 1)]], {"Cmd": ["true"]}, platform="linux/arm64")
    archive = tmp_path / "multi.tar"
    archive.write_bytes(oci_tar([amd, arm]))
    assert run("inspect", str(archive)).exit_code == 0
    picked = json.loads(run("inspect", str(archive), "--platform", "linux/arm64", "-f", "json").output)
    assert [f["rule"] for f in picked["findings"]] == ["SM230"]
    missing = run("inspect", str(archive), "--platform", "linux/s390x")
    assert missing.exit_code == 2 and "linux/amd64" in missing.output and "linux/arm64" in missing.output


def test_bad_archive_is_a_one_line_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00garbage" * 100)
    result = run("inspect", str(junk))
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_check_with_image_reports_each_defect_once(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPY process.py /opt/ml/code/\n"
                          "ENTRYPOINT python3 /opt/ml/code/process.py\n")
    archive = tmp_path / "img.tar"
    archive.write_bytes(docker_save([Image(LAYERS[:1], SHELL_EP)]))
    result = run("check", "--image", str(archive), "-f", "json", str(dockerfile))
    findings = json.loads(result.output)["findings"]
    assert sorted(f["rule"] for f in findings) == ["SM101", "SM110"]
    assert all(f["evidence"][0].startswith(f"confirmed in the built image {archive}") for f in findings)


def test_check_with_image_settles_an_inherited_command(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM mycorp/processing-base:3\nCOPY process.py /opt/program/\n")
    archive = write_image(tmp_path / "img.tar", [[("opt/program/process.py", "file", 5)]],
                          {"Entrypoint": ["python3", "/opt/program/process.py"]})
    assert "SM104" in run("check", str(dockerfile)).output
    combined = run("check", "--image", archive, str(dockerfile))
    assert combined.exit_code == 0, combined.output
