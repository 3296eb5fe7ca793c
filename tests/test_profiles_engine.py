"""SM106/SM206 against the real engine: what `docker run IMAGE serve` does with an image is what the
rules say of it. Images are built FROM scratch (busybox, a `#!` script), each container labelled
and removed, whatever happens."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest
from typer.testing import CliRunner

from docker_support import LABEL_KEY, SESSION_ID, build_image
from sm_lint.cli import app

SERVE = "#!/bin/busybox sh\necho serving \"$@\"\n"
# `serve` on the image's own PATH, no ENTRYPOINT: SageMaker's `docker run IMAGE serve` runs it.
TAKES = 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY serve /opt/program/serve\nENV PATH=/opt/program:/bin\n' \
        'CMD ["/bin/busybox", "echo", "the CMD is replaced by serve"]\n'
# Nothing named serve anywhere: the argument replaces the CMD and Docker finds no such program.
CANNOT = 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "never"]\n'
# A `serve` on PATH without the execute bit (no `#!`: the test context gives it mode 0644, as a
# checkout of a file never made executable would): Docker passes over it.
NOT_EXECUTABLE = 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY serve /opt/program/serve\nENV PATH=/opt/program:/bin\n'


@pytest.fixture(scope="module")
def images(docker_client: Any) -> Tuple[str, str]:
    return build_image(docker_client, TAKES, {"serve": SERVE}), build_image(docker_client, CANNOT)


def docker_run_serve(client: Any, image: str) -> str:
    """`docker run IMAGE serve`: its output, or the engine's refusal."""
    import docker.errors

    container = client.containers.create(image, ["serve"], network_mode="none", labels={LABEL_KEY: SESSION_ID})
    try:
        try:
            container.start()
        except docker.errors.APIError as error:
            return str(error)
        container.wait(timeout=60)
        return container.logs(stdout=True, stderr=True).decode()
    finally:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture
def context(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / ".git").mkdir()
    (tmp_path / "serve").write_text(SERVE)
    (tmp_path / "serve").chmod(0o755)  # as build_image gives it
    (tmp_path / "busybox").write_bytes(b"")
    before = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def findings(*args: str) -> list:
    result = CliRunner().invoke(app, [*args, "-f", "json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)["findings"]


def test_an_image_with_serve_on_path_and_no_entrypoint_is_correct(docker_client: Any, images: Tuple[str, str],
                                                                  context: Path) -> None:
    takes, _ = images
    assert docker_run_serve(docker_client, takes) == "serving\n"  # what SageMaker would start
    assert findings("inspect", takes, "--profile", "inference") == []
    (context / "Dockerfile").write_text(TAKES)
    assert findings("check", "Dockerfile", "--profile", "inference") == []
    assert findings("check", "Dockerfile", "--image", takes, "--profile", "inference") == []
    # and under Processing it is not SM104/SM204 material either: it has a CMD
    assert [f["rule"] for f in findings("inspect", takes)] == []


def test_an_image_that_cannot_take_serve(docker_client: Any, images: Tuple[str, str], context: Path) -> None:
    _, cannot = images
    refusal = docker_run_serve(docker_client, cannot)
    assert 'exec: "serve": executable file not found in $PATH' in refusal
    (image_finding,) = findings("inspect", cannot, "--profile", "batch-transform")
    assert image_finding["rule"] == "SM206"
    assert 'exec: "serve": executable file not found in $PATH' in image_finding["message"]
    (context / "Dockerfile").write_text(CANNOT)
    (merged,) = findings("check", "Dockerfile", "--image", cannot, "--profile", "batch-transform")
    assert merged["rule"] == "SM106" and merged["line"] == 1  # reported once, on the Dockerfile line
    assert f"confirmed in the built image {cannot} (SM206)" in merged["evidence"]


def test_a_serve_without_the_execute_bit(docker_client: Any, context: Path) -> None:
    image = build_image(docker_client, NOT_EXECUTABLE, {"serve": "echo serving\n"})
    assert 'exec: "serve": executable file not found in $PATH' in docker_run_serve(docker_client, image)
    (context / "serve").write_text("echo serving\n")  # mode 0644 here too
    (context / "serve").chmod(0o644)
    (context / "Dockerfile").write_text(NOT_EXECUTABLE)
    (finding,) = findings("check", "Dockerfile", "--profile", "inference")
    assert finding["rule"] == "SM106" and finding["line"] == 3
    assert "serve in the build context has mode 0644" in finding["message"]
    (image_finding,) = findings("inspect", image, "--profile", "inference")  # the layer's tar header says so too
    assert image_finding["rule"] == "SM206" and "/opt/program/serve is there but has mode 0644" in image_finding["message"]
