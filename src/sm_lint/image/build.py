"""`sm-lint gate --build`: build the image with the engine, as `docker build` (classic builder
API) would. A build that fails is a finding of the gate (SM200), not a crash: the Dockerfile
layer's findings are still reported."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint.errors import EnvironmentFailure, UsageError
from sm_lint.image.engine import explain

if TYPE_CHECKING:
    from docker import DockerClient


class BuildResult(NamedTuple):
    image_id: Optional[str]  # None when the build failed
    log: List[str]  # the builder's output, for evidence
    error: str  # the engine's error message when it failed


def build(client: DockerClient, context: Path, dockerfile: Path, tag: str,
          build_args: Sequence[Tuple[str, str]] = (), target: Optional[str] = None) -> BuildResult:
    import docker.errors

    if not context.is_dir():
        raise UsageError(f"{context}: build context is not a folder")
    try:
        relative = os.path.relpath(dockerfile.resolve(), context.resolve())
    except ValueError:
        relative = str(dockerfile.resolve())
    log: List[str] = []
    image_id = None
    try:
        stream = client.api.build(path=str(context), dockerfile=relative, tag=tag, buildargs=dict(build_args),
                                  target=target, rm=True, forcerm=True, pull=False, decode=True)
        for entry in stream:
            text = str(entry.get("stream") or entry.get("status") or "")
            log.extend(line for line in text.splitlines() if line.strip())
            if entry.get("error"):
                return BuildResult(None, log, " ".join(str(entry["error"]).split()))
            image_id = (entry.get("aux") or {}).get("ID", image_id)
    except docker.errors.APIError as error:
        return BuildResult(None, log, explain(error))
    except docker.errors.DockerException as error:
        raise EnvironmentFailure(f"cannot build {tag}: {error}") from error
    if not image_id:
        try:
            image_id = client.images.get(tag).id
        except docker.errors.ImageNotFound:
            return BuildResult(None, log, "the engine reported no image")
    return BuildResult(image_id, log, "")
