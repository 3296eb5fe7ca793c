"""The test-image builders work against the real engine, and a session leaves nothing behind."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import uuid
from pathlib import Path

import pytest

from docker_support import LABEL_KEY, SESSION_ID, build_image, save_image, static_binary

pytestmark = pytest.mark.docker

TESTS = Path(__file__).resolve().parent

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from a static binary"); return 7; }\n'


def test_built_image_runs_busybox_and_a_static_program(docker_client) -> None:
    image_id = build_image(docker_client, textwrap.dedent("""\
        FROM scratch
        COPY busybox /bin/busybox
        COPY hello /hello
        ENTRYPOINT ["/bin/busybox", "sh", "-c", "echo shell works; /hello; echo exit=$?"]
        """), {"hello": static_binary(HELLO_C)})
    image = docker_client.images.get(image_id)
    assert image.labels[LABEL_KEY] == SESSION_ID
    output = docker_client.containers.run(image_id, remove=True).decode()
    assert output.split("\n")[:3] == ["shell works", "hello from a static binary", "exit=7"]


def test_files_get_modes_by_content_and_text_is_utf8(docker_client) -> None:
    image_id = build_image(docker_client, "FROM scratch\nCOPY busybox /bin/busybox\nCOPY . /ctx/\n"
                           'ENTRYPOINT ["/bin/busybox", "stat", "-c", "%n %a", "/ctx/run.sh", "/ctx/data.txt"]\n',
                           {"run.sh": "#!/bin/sh\necho hi\n", "data.txt": "h\u00e9\n"})
    output = docker_client.containers.run(image_id, remove=True).decode().split()
    assert output == ["/ctx/run.sh", "755", "/ctx/data.txt", "644"]


def test_save_image_writes_a_docker_save_archive_with_the_name(docker_client) -> None:
    tag = f"sm-lint-test/save:{uuid.uuid4().hex[:8]}"
    build_image(docker_client, "FROM scratch\nCOPY busybox /bin/busybox\n", tag=tag)
    path = save_image(docker_client, tag)
    assert path.is_file()
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [tag]
    assert len(manifest[0]["Layers"]) == 1


CHILD_TEST = '''
import uuid
from pathlib import Path
import pytest
from docker_support import SESSION, BuildFailed, build_image

# A nonce as the first step keeps these builds off the build cache that other images share, so
# that every image they make is this session's alone and must be gone afterwards.
NONCE = {"nonce": uuid.uuid4().hex}
FIRST = "FROM scratch\\nCOPY nonce /nonce\\nCOPY busybox /bin/busybox\\n"

def test_leave_things_behind(docker_client):
    base = build_image(docker_client, FIRST, NONCE, tag="sm-lint-test/child:" + NONCE["nonce"][:8])
    child = build_image(docker_client, "FROM " + base + "\\nCOPY x /x\\n", {"x": "x"})
    docker_client.containers.create(child, ["/bin/busybox", "true"])
    docker_client.containers.run(base, ["/bin/busybox", "true"])  # exited, not removed
    with pytest.raises(BuildFailed):  # a failed build leaves intermediate images behind
        build_image(docker_client, FIRST + "COPY x /x\\nCOPY missing /m\\n", dict(NONCE, x="y"))
    Path(OUT).write_text("\\n".join(sorted(SESSION.seen_ids)))
'''


def test_session_end_removes_images_containers_and_intermediates(docker_client, tmp_path: Path) -> None:
    """A child pytest session builds, runs and fails a build; after it exits, nothing is left."""
    child_session = f"selftest-{uuid.uuid4().hex[:8]}"
    seen = tmp_path / "seen"
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path[:0] = [{str(TESTS)!r}, {str(TESTS.parent / 'src')!r}]\n"
        'pytest_plugins = ["docker_support"]\n')
    (tmp_path / "test_child.py").write_text(f"OUT = {str(seen)!r}\n" + CHILD_TEST)
    env = dict(os.environ, SM_LINT_TEST_SESSION=child_session)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    label = {"label": f"{LABEL_KEY}={child_session}"}
    assert docker_client.images.list(all=True, filters=label) == []
    assert docker_client.containers.list(all=True, filters=label) == []
    import docker.errors

    intermediates = seen.read_text().split()
    assert len(intermediates) >= 3
    for image_id in intermediates:
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(image_id)
    if shutil.which("docker"):  # the same question as a person would ask it
        for command in (["images", "-a", "-q"], ["ps", "-a", "-q"]):
            listed = subprocess.run(["docker", *command, "--filter", f"label={LABEL_KEY}={child_session}"],
                                    capture_output=True, text=True, check=True)
            assert listed.stdout.strip() == ""
