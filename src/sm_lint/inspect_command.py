"""`sm-lint inspect IMAGE`: check a built image, from the Docker engine or from an archive."""
from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple

from sm_lint import config, contract
from sm_lint.catalogue import Catalogue
from sm_lint.findings import Finding
from sm_lint.image.model import ImageView


class InspectOptions(NamedTuple):
    config_file: Optional[Path] = None
    ignore: Tuple[str, ...] = ()
    fail_on: Optional[str] = None
    gpu: Optional[str] = None
    platform: str = "linux/amd64"
    docker_host: Optional[str] = None
    entrypoint: Tuple[str, ...] = ()  # ContainerEntrypoint of the job
    arguments: Tuple[str, ...] = ()  # ContainerArguments of the job


class InspectResult(NamedTuple):
    findings: List[Finding]
    failed: bool
    fail_on: str
    facts: Tuple[Tuple[str, str], ...]
    view: ImageView


def load_view(target: str, platform: str, docker_host: Optional[str]) -> ImageView:
    """An existing path is an archive or OCI layout; anything else names an image in the engine."""
    if os.path.exists(target):
        from sm_lint.image.archive import read_archive

        return read_archive(target, platform)
    from sm_lint.image.engine import image_from_engine

    return image_from_engine(target, docker_host, platform)


def settings_for(options: InspectOptions, catalogue: Catalogue) -> config.Settings:
    source = options.config_file or config.find_config(Path.cwd())
    settings = config.load(source) if source else config.Settings()
    catalogue.check_ids(list(options.ignore), "--ignore")
    catalogue.check_settings(settings)
    return settings.with_cli(options.ignore, fail_on=options.fail_on, gpu=options.gpu)


def run_inspect(target: str, options: InspectOptions, catalogue: Catalogue,
                view: Optional[ImageView] = None) -> InspectResult:
    from sm_lint.image.checks import ImageContext, run
    from sm_lint.report import failed
    from sm_lint.stamping import stamp

    settings = settings_for(options, catalogue)
    view = view or load_view(target, options.platform, options.docker_host)
    ctx = ImageContext(view, settings.gpu, options.entrypoint, options.arguments)
    today = datetime.date.today()
    findings = stamp(run(ctx, settings.ignored(today)), target, settings, catalogue, today)
    return InspectResult(findings, failed(findings, settings.fail_on), settings.fail_on, facts(view, options), view)


def facts(view: ImageView, options: InspectOptions) -> Tuple[Tuple[str, str], ...]:
    """What a reader of the report wants to know besides the findings."""
    cfg = view.config
    resolved = contract.resolve(cfg.entrypoint, cfg.cmd, options.entrypoint, options.arguments, cfg.shell)
    command = " ".join(_quote(word) for word in resolved.argv) if resolved.argv else "(nothing: the container cannot start)"
    return (
        ("image", view.reference or view.source),
        ("platform", f"{cfg.os}/{cfg.architecture}" + (f"/{cfg.variant}" if cfg.variant else "")),
        ("layers", str(len(view.layers))),
        ("paths", str(len(view.files))),
        ("request", resolved.case),
        ("effective command", command),
    )


def _quote(word: str) -> str:
    return word if word and all(c.isalnum() or c in "/._-=:,+@%" for c in word) else repr(word)
