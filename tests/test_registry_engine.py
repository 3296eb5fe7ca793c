"""`registry:` against images the real engine built and `docker push`ed to a real registry on
loopback (the engine treats 127.0.0.0/8 as an insecure registry, so plain HTTP): the engine, its
`docker save` archive and the registry give exactly the same findings, and the registry run has no
engine to talk to (DOCKER_HOST points nowhere)."""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from docker_support import SESSION_ID, build_image, save_image  # noqa: E402
from registry_support import Registry  # noqa: E402
from test_registry import comparable, sm_lint  # noqa: E402

# Shell-form ENTRYPOINT through busybox sh, files under /opt/ml, a whiteout and an opaque directory.
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY start.sh /usr/local/bin/start.sh
RUN mkdir -p /opt/ml/code /opt/ml/d && echo old > /opt/ml/d/old && echo x > /opt/ml/code/run.py \\
 && echo tmp > /opt/ml/tmp.txt
RUN rm /opt/ml/tmp.txt && rm -rf /opt/ml/d && mkdir /opt/ml/d && echo new > /opt/ml/d/new
ENTRYPOINT /usr/local/bin/start.sh
"""
START = "#!/bin/sh\nsleep 1000 &\nwait\n"


@pytest.fixture(scope="module")
def pushed(docker_client: Any) -> Iterator[Dict[str, Any]]:
    with Registry() as registry:
        repository = f"sm-lint-registry-{SESSION_ID.lower()}-{uuid.uuid4().hex[:6]}"
        tag = f"{registry.host}/{repository}:shell"
        build_image(docker_client, DOCKERFILE, {"start.sh": START}, tag=tag)
        for line in docker_client.api.push(f"{registry.host}/{repository}", tag="shell", stream=True, decode=True):
            assert "error" not in line, line
        yield {"registry": registry, "tag": tag, "archive": save_image(docker_client, tag)}


def test_engine_archive_and_registry_give_the_same_findings(pushed: Dict[str, Any], tmp_path: Path,
                                                            docker_client: Any) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text("{}")
    engine_host = {"DOCKER_HOST": os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"}
    engine = sm_lint("inspect", f"docker:{pushed['tag']}", "-f", "json", cwd=tmp_path, env=engine_host).report()
    archive = sm_lint("inspect", f"docker-archive:{pushed['archive']}", "-f", "json", cwd=tmp_path).report()
    registry = sm_lint("inspect", f"registry:{pushed['tag']}", "-f", "json", cwd=tmp_path).report()
    assert comparable(registry) == comparable(engine) == comparable(archive)
    assert {f["rule"] for f in registry["findings"]} >= {"SM201", "SM210"}
    assert registry["facts"]["image"] == engine["facts"]["image"] == pushed["tag"]
    for fact in ("platform", "layers", "paths", "effective command"):
        assert registry["facts"][fact] == engine["facts"][fact], fact
    # the registry's layers are gzip (docker push compresses them), the archive's plain tars: the
    # same findings to the letter, only the target differs
    assert registry["findings"] == [dict(f, path=f"registry:{pushed['tag']}") for f in engine["findings"]]
