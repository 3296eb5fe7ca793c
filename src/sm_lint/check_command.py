"""`sm-lint check` argument parsing and run.

Parsed with argparse rather than typer on purpose: `check` runs as a pre-commit hook on every
commit, and importing typer alone costs more than linting a 500-line Dockerfile (bench/). The
typer app delegates `check` here, so these are the only definitions of its options.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, List, NoReturn, Optional, Sequence, Tuple

from sm_lint.config import FAIL_ON, check_platform, parse_size
from sm_lint.console import check_writable, emit, guarded, parse_report_flags, rule_coverage
from sm_lint.profiles import NAMES as PROFILES
from sm_lint.report import FORMATS

if TYPE_CHECKING:
    from sm_lint.catalogue import Catalogue
    from sm_lint.check import CheckOptions, CheckResult
    from sm_lint.console import Coverage, Reports
    from sm_lint.image.sources import RegistryOptions
from sm_lint.errors import EXIT_FINDINGS, EXIT_OK, UsageError



class _Formatter(argparse.HelpFormatter):
    """argparse makes a formatter for every add_argument (to check the metavar); the default one
    imports shutil (with bz2 and lzma, ~3 ms) to ask the terminal's width. Help is laid out by
    helptext.py, so this one needs no width."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=100)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"check: {message} (see `sm-lint check --help`)")

    def format_help(self) -> str:  # the layout of every command's help (helptext.py), read on -h only
        from sm_lint.helptext import from_argparse

        return from_argparse(self, "PATH...")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sm-lint check", description="Check Dockerfiles statically: no Docker engine, no network.",
                formatter_class=_Formatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="Dockerfiles or folders to search (Dockerfile, *.Dockerfile, Dockerfile.*, *.dockerfile); "
                        "- reads standard input.")
    p.add_argument("-f", "--format", choices=FORMATS, default="text", help="Output format.")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="Write the report here instead of stdout.")
    p.add_argument("--report", action="append", default=[], metavar="FORMAT=PATH",
                   help="Also write a report in FORMAT to PATH (repeatable).")
    p.add_argument("--fail-on", choices=FAIL_ON, help="Lowest severity that fails the run (default: warning).")
    p.add_argument("--ignore", action="append", default=[], metavar="RULE", help="Rule id to skip (repeatable).")
    p.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE",
                   help="As for docker build (repeatable); NAME alone takes the value from the environment.")
    p.add_argument("--target", metavar="STAGE", help="Check this build stage as the final image.")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                   help="The image is (not) for GPU instances (default: from evidence).")
    p.add_argument("--config", dest="config_file", type=Path, metavar="FILE",
                   help="Use this config file instead of looking one up.")
    p.add_argument("--inline-ignores", action=argparse.BooleanOptionalAction, default=True,
                   help="Honour `# sm-lint: ignore=` pragmas.")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="The build's target platform: sets BuildKit's TARGETPLATFORM, TARGETARCH ... and, with "
                        "--image, picks from a multi-platform index (default: linux/amd64, SageMaker's).")
    p.add_argument("--context", type=Path, metavar="DIR", help="Build context (default: the Dockerfile's folder).")
    p.add_argument("--max-file-size", metavar="SIZE",
                   help="Refuse Dockerfiles larger than this: bytes, or 512k, 4M ... (default: 2M; "
                        "max-file-size in config).")
    p.add_argument("--profile", choices=PROFILES,
                   help="The SageMaker contract to check against (default: processing; profile in config).")
    p.add_argument("--fix", action="store_true",
                   help="Rewrite the files: shell-form ENTRYPOINT/CMD that need no shell to exec form (SM101, "
                        "SM102), JSON-looking arguments to valid JSON (SM103); then report what remains.")
    p.add_argument("--diff", action="store_true",
                   help="Print the fixes as a unified diff and write nothing (exit 1 when there would be "
                        "changes).")
    p.add_argument("--fix-all-stages", action="store_true",
                   help="Also fix named build stages that the final image does not use.")
    p.add_argument("--unsafe-fixes", action="store_true",
                   help="With --fix or --diff, also apply the fixes that change what runs: shell code to "
                        "[\"/bin/sh\", \"-c\", \"... exec PROGRAM\"] (SM101, SM102), `exec` before an entrypoint "
                        "script's last command (SM105). Without it they are listed, not applied.")
    image = p.add_argument_group("Built image")
    image.add_argument("--image", metavar="IMAGE",
                       help="Also check the image built from the Dockerfile (as sm-lint inspect): its name or id "
                            "in the engine, or a docker-save/OCI archive.")
    image.add_argument("--docker-host", metavar="URL", help="Engine address (default: DOCKER_HOST or the local socket).")
    image.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                       help="Allow plain HTTP (and unverified TLS) for this registry (repeatable; loopback registries "
                            "may always use HTTP).")
    image.add_argument("--ca-cert", metavar="FILE", help="Also trust this CA (PEM) for registry TLS.")
    return p


def main(argv: Sequence[str]) -> int:
    def work() -> int:
        args = parser().parse_args(list(argv))
        reports = parse_report_flags(args.report)
        if args.output is not None:
            check_writable(args.output, f"--output {str(args.output)!r}")
        registry = _registry_flags(args)
        from sm_lint.catalogue import Catalogue
        from sm_lint.check import CheckOptions, run_check

        catalogue = Catalogue.load()
        options = CheckOptions(
            config_file=args.config_file,
            ignore=tuple(rule.upper() for rule in args.ignore),
            fail_on=args.fail_on,
            gpu=None if args.gpu is None else ("true" if args.gpu else "false"),
            build_args=build_args(args.build_arg),
            target=args.target,
            inline_ignores=args.inline_ignores,
            context=args.context,
            platform=None if args.platform is None else check_platform(args.platform, "--platform"),
            max_file_size=None if args.max_file_size is None else parse_size(args.max_file_size, "--max-file-size"),
            profile=args.profile,
        )
        if args.fix or args.diff or args.fix_all_stages or args.unsafe_fixes:
            if args.image is not None:
                raise UsageError("--fix and --diff work on Dockerfiles only: leave out --image")
            if args.fix and args.diff:
                raise UsageError("--fix writes the files and --diff writes nothing: give one of them")
            if not (args.fix or args.diff):
                raise UsageError(f"{'--fix-all-stages' if args.fix_all_stages else '--unsafe-fixes'} goes with "
                                 "--fix or --diff")
            from sm_lint.fix import report_fixes, run_fix

            outcomes = run_fix(args.paths, options, catalogue, write_files=args.fix, all_stages=args.fix_all_stages,
                               unsafe=args.unsafe_fixes)
            report_fixes(outcomes, diff=args.diff)
            if args.diff:
                return EXIT_FINDINGS if any(o.changed for o in outcomes) else EXIT_OK
        result = run_check(args.paths, options, catalogue)
        titles = {rule.id: rule.title for rule in catalogue}
        rules, skipped = _coverage(result.targets, options, catalogue)
        if args.image is None:
            emit(args.format, result.findings, "check", result.targets, result.fail_on, titles, args.output,
                 reports=reports, rules=rules, skipped=skipped, profile=profile_of(result.targets, options, catalogue))
            return EXIT_FINDINGS if result.failed else EXIT_OK
        return _with_image(args, options, catalogue, result, titles, reports, (rules, skipped), registry)

    return guarded(work)


def _registry_flags(args: argparse.Namespace) -> "Optional[RegistryOptions]":
    """--image's source and the registry flags, checked before any work (a missing archive, a
    malformed reference, a CA file that is not there: exit 2). None without --image, and then
    nothing of the image side is imported."""
    if args.image is None:
        if args.insecure_registry or args.ca_cert is not None:
            flag = "--insecure-registry" if args.insecure_registry else "--ca-cert"
            raise UsageError(f"{flag} goes with --image (a registry: image)")
        return None
    from sm_lint.image.sources import check, registry_options

    check(args.image)
    return registry_options(args.insecure_registry, args.ca_cert)


def _coverage(targets: Sequence[str], options: "CheckOptions", catalogue: "Catalogue") -> "Coverage":
    """Dockerfile rules that ran on every file and those skipped, from each file's settings."""
    from sm_lint.check import _Settings  # the same per-folder config lookup that run_check made

    layered = _Settings(options, catalogue)
    return rule_coverage(catalogue, ("dockerfile",), [layered.for_file(t) for t in targets], options.ignore)


def profile_of(targets: Sequence[str], options: "CheckOptions", catalogue: "Catalogue") -> str:
    """The profile the files were checked under (config per folder, `--profile` over it)."""
    from sm_lint.check import _Settings
    from sm_lint.console import profile_label

    layered = _Settings(options, catalogue)
    return profile_label(layered.for_file(t) for t in targets)


def _with_image(args: argparse.Namespace, options: "CheckOptions", catalogue: "Catalogue",
                result: "CheckResult", titles: dict, reports: "Reports", coverage: "Coverage",
                registry: "Optional[RegistryOptions]" = None) -> int:
    """`check --image`: both layers in one report, each defect once (combined.py)."""
    from sm_lint.combined import merge
    from sm_lint.image.checks import has_toolkit
    from sm_lint.image.sources import RegistryOptions
    from sm_lint.inspect_command import InspectOptions, run_inspect, settings_for
    from sm_lint.report import failed

    if len(result.targets) != 1:
        raise UsageError("--image needs exactly one Dockerfile: the one the image was built from")
    image_options = InspectOptions(
        config_file=options.config_file, ignore=options.ignore, fail_on=options.fail_on, gpu=options.gpu,
        platform=args.platform or "linux/amd64", docker_host=args.docker_host, profile=options.profile,
        registry=registry or RegistryOptions())
    inspected = run_inspect(args.image, image_options, catalogue)
    config = inspected.view.config
    findings = merge(result.findings, inspected.findings, args.image, bool(config.entrypoint or config.cmd),
                     has_toolkit(inspected.view))
    image_rules, image_skipped = rule_coverage(catalogue, ("image",), [settings_for(image_options, catalogue)],
                                               options.ignore)
    emit(args.format, findings, "check", result.targets + (args.image,), result.fail_on, titles, args.output,
         inspected.facts, reports=reports, rules=coverage[0] + image_rules, skipped=coverage[1] + image_skipped,
         target_layers=((result.targets[0], "dockerfile"), (args.image, "image")),
         profile=profile_of(result.targets, options, catalogue))
    return EXIT_FINDINGS if failed(findings, result.fail_on) else EXIT_OK


def build_args(items: List[str]) -> Tuple[Tuple[str, str], ...]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not name:
            raise UsageError(f"--build-arg {item!r}: expected NAME=VALUE")
        if not sep:  # `docker build --build-arg NAME` takes the value from the environment
            value_from_env: Optional[str] = os.environ.get(name)
            if value_from_env is None:
                continue
            value = value_from_env
        pairs.append((name, value))
    return tuple(pairs)
