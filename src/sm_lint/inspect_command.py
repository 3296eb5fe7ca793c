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
from sm_lint.profiles import Profile
from sm_lint.profiles import get as get_profile


class InspectOptions(NamedTuple):
    config_file: Optional[Path] = None
    ignore: Tuple[str, ...] = ()
    fail_on: Optional[str] = None
    gpu: Optional[str] = None
    platform: str = "linux/amd64"
    docker_host: Optional[str] = None
    entrypoint: Tuple[str, ...] = ()  # ContainerEntrypoint of the job
    arguments: Tuple[str, ...] = ()  # ContainerArguments of the job
    profile: Optional[str] = None  # `--profile`; None: the config's (default processing)


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
    return settings.with_cli(options.ignore, fail_on=options.fail_on, gpu=options.gpu, profile=options.profile)


def run_inspect(target: str, options: InspectOptions, catalogue: Catalogue,
                view: Optional[ImageView] = None) -> InspectResult:
    from sm_lint.image.checks import ImageContext, run
    from sm_lint.report import failed
    from sm_lint.stamping import stamp

    settings = settings_for(options, catalogue)
    view = view or load_view(target, options.platform, options.docker_host)
    profile = get_profile(settings.profile)
    ctx = ImageContext(view, settings.gpu, options.entrypoint, options.arguments, profile)
    today = datetime.date.today()
    # A rule whose page does not list this profile does not run (reports list it as skipped).
    skip = settings.ignored(today) | {rule.id for rule in catalogue if not rule.applies(profile.name)}
    findings = stamp(run(ctx, skip), target, settings, catalogue, today)
    return InspectResult(findings, failed(findings, settings.fail_on), settings.fail_on,
                         facts(view, options, profile), view)


def facts(view: ImageView, options: InspectOptions, profile: Optional[Profile] = None) -> Tuple[Tuple[str, str], ...]:
    """What a reader of the report wants to know besides the findings."""
    cfg = view.config
    # Training and hosting append their argument (`train`, `serve`) unless the job gives its own.
    appended = profile is not None and bool(profile.argument) and not options.entrypoint and not options.arguments
    arguments = (profile.argument,) if appended and profile is not None else options.arguments
    resolved = contract.resolve(cfg.entrypoint, cfg.cmd, options.entrypoint, arguments, cfg.shell)
    request = f"{profile.title}: `{profile.command}`" if appended and profile is not None else resolved.case
    command = " ".join(_quote(word) for word in resolved.argv) if resolved.argv else "(nothing: the container cannot start)"
    return (
        ("image", view.reference or view.source),
        ("platform", f"{cfg.os}/{cfg.architecture}" + (f"/{cfg.variant}" if cfg.variant else "")),
        ("layers", str(len(view.layers))),
        ("paths", str(len(view.files))),
        ("request", request),
        ("effective command", command),
    )


def _quote(word: str) -> str:
    return word if word and all(c.isalnum() or c in "/._-=:,+@%" for c in word) else repr(word)
