"""`sm-lint inspect IMAGE...`: check built images, from a Docker engine, an archive or a registry
(image/sources.py says how an argument names one); several at once with --jobs."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple

from sm_lint import config, contract
from sm_lint.catalogue import Catalogue
from sm_lint.findings import Finding
from sm_lint.image.model import ImageView
from sm_lint.image.sources import RegistryOptions
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
    registry: RegistryOptions = RegistryOptions()  # --insecure-registry, --ca-cert


class InspectResult(NamedTuple):
    findings: List[Finding]
    failed: bool
    fail_on: str
    facts: Tuple[Tuple[str, str], ...]
    view: ImageView


def load_view(target: str, platform: str, docker_host: Optional[str],
              registry: RegistryOptions = RegistryOptions()) -> ImageView:
    """The image `target` names: `docker:`, `docker-archive:`, `oci-archive:`, `oci-dir:`,
    `registry:`, or no scheme (an existing path is an archive, anything else an engine image)."""
    from sm_lint.image.sources import load_view as load

    return load(target, platform, docker_host, registry)


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
    view = view or load_view(target, options.platform, options.docker_host, options.registry)
    profile = get_profile(settings.profile)
    # Training and hosting append their argument unless the job gives its own command (SM203 then
    # follows `train`/`serve` from PATH to the script it is).
    arguments = options.arguments or ((profile.argument,) if profile.argument and not options.entrypoint else ())
    ctx = ImageContext(view, settings.gpu, options.entrypoint, arguments, profile)
    today = datetime.date.today()
    # A rule whose page does not list this profile does not run (reports list it as skipped).
    skip = settings.ignored(today) | {rule.id for rule in catalogue if not rule.applies(profile.name)}
    findings = stamp(run(ctx, skip), target, settings, catalogue, today)
    return InspectResult(findings, failed(findings, settings.fail_on), settings.fail_on,
                         facts(view, options, profile), view)


def run_inspect_many(targets: Sequence[str], options: InspectOptions, catalogue: Catalogue,
                     jobs: int = 1) -> List[InspectResult]:
    """Each target inspected, up to `jobs` at a time (threads: the work is network, zlib and
    sha256, which release the GIL), results in the order of `targets`. Every source is checked
    up front (a missing archive, a malformed reference) so a typo in the last one costs no
    download of the first; the first target that fails, in order, ends the run with its error."""
    import queue
    import threading

    from sm_lint.image.sources import check

    for target in targets:
        check(target)
    settings_for(options, catalogue)  # a bad config or --ignore: said once, before any image
    if jobs <= 1 or len(targets) == 1:
        return [run_inspect(target, options, catalogue) for target in targets]
    results: List[object] = [None] * len(targets)
    work: "queue.Queue[int]" = queue.Queue()
    for number in range(len(targets)):
        work.put(number)

    def worker() -> None:
        while True:
            try:
                number = work.get_nowait()
            except queue.Empty:
                return
            try:
                results[number] = run_inspect(targets[number], options, catalogue)
            except BaseException as error:  # noqa: BLE001 - handed to the main thread, raised there
                results[number] = error

    # Daemon threads: Ctrl-C ends the main thread at once, and with it the downloads.
    threads = [threading.Thread(target=worker, name=f"sm-lint-inspect-{n}", daemon=True)
               for n in range(min(jobs, len(targets)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if isinstance(result, InspectResult)]


def many_facts(targets: Sequence[str], results: Sequence[InspectResult]) -> Tuple[Tuple[str, str], ...]:
    """One image's facts as they are; several images' each labelled with the image."""
    if len(results) == 1:
        return results[0].facts
    return tuple((f"{target}: {label}", value) for target, result in zip(targets, results)
                 for label, value in result.facts)


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
