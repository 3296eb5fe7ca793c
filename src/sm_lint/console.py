"""What every command shares at the edge: the one error path and report output. No typer here,
so the fast `check` path (check_command.py) can use it without loading the CLI framework."""
from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from sm_lint.errors import EXIT_INTERRUPTED, EXIT_OK, FatalError, Terminated, UsageError
from sm_lint.findings import Finding
from sm_lint.terminal import printable

if TYPE_CHECKING:
    from sm_lint.catalogue import Catalogue, Rule
    from sm_lint.config import Settings
    from sm_lint.report import RunInfo

Reports = Tuple[Tuple[str, Path], ...]  # (format, path) pairs from `--report FORMAT=PATH`
Coverage = Tuple[Tuple[str, ...], Tuple[Tuple[str, str], ...]]  # RunInfo's rules and skipped

EXIT_INTERNAL = 4
# Rules that only `gate --build` can decide: no other command reports them as run.
ONLY_WHEN_BUILDING = frozenset({"SM200"})


def guarded(work: Callable[[], int]) -> int:
    """Run a command: a one-line message and a distinct exit code for every failure, never a traceback."""
    try:
        return work()
    except FatalError as error:
        print(f"sm-lint: error: {printable(str(error))}", file=sys.stderr)
        return error.exit_code
    except Terminated as stop:
        print(f"sm-lint: terminated by signal {stop.exit_code - 128}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("sm-lint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("SM_LINT_DEBUG"):
            raise
        print(f"sm-lint: internal error: {type(error).__name__}: {printable(str(error))} "
              "(set SM_LINT_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def emit(fmt: str, findings: List[Finding], command: str, targets: Sequence[str], fail_on: str,
         titles: dict, output: Optional[Path], facts: Tuple[Tuple[str, str], ...] = (), *,
         reports: Reports = (), rules: Tuple[str, ...] = (), skipped: Tuple[Tuple[str, str], ...] = (),
         target_layers: Tuple[Tuple[str, str], ...] = (), profile: str = "") -> None:
    """Render the `fmt` report to `output` (or stdout), and every `--report FORMAT=PATH` to its file."""
    from sm_lint.report import RunInfo

    info = RunInfo(command, tuple(targets), fail_on, titles, False, facts, rules, skipped, target_layers,
                   profile or _default_profile())
    emit_reports(findings, info, fmt, output, reports)


def emit_reports(findings: List[Finding], info: "RunInfo", fmt: str, output: Optional[Path],
                 reports: Reports = ()) -> None:
    """Write each `--report` file, then the `--format` report to `output` or stdout (in colour only
    for text on a terminal). A file that cannot be written is a usage error (exit 2)."""
    from sm_lint.report import renderer

    for report_format, path in reports:
        _write(path, renderer(report_format)(findings, info._replace(color=False)))
    color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = renderer(fmt)(findings, info._replace(color=color))
    if output is None:
        # An undecodable file name in an image layer is a lone surrogate: shown as \udcXX, not a crash.
        sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
        sys.stdout.flush()
        return
    _write(output, text)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8", errors="backslashreplace")
    except OSError as error:
        raise UsageError(f"{path}: cannot write report: {error.strerror or error}") from None


def parse_report_flags(items: Sequence[str]) -> Reports:
    """`--report FORMAT=PATH` items, checked before the run so that a typo costs no work: a known
    format, a file in an existing, writable folder, each path named once."""
    from sm_lint.report import FORMATS

    reports = []
    seen = set()
    for item in items:
        fmt, sep, raw = item.partition("=")
        fmt = fmt.strip().lower()
        if not sep or not fmt or not raw:
            raise UsageError(f"--report {item!r}: expected FORMAT=PATH, FORMAT one of {', '.join(FORMATS)}")
        if fmt not in FORMATS:
            raise UsageError(f"--report {item!r}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        path = Path(raw)
        check_writable(path, f"--report {item!r}")
        key = os.path.abspath(raw)
        if key in seen:
            raise UsageError(f"--report {item!r}: {raw} is named twice")
        seen.add(key)
        reports.append((fmt, path))
    return tuple(reports)


def check_writable(path: Path, flag: str) -> None:
    """A report file (`--report`, `--output`) that can be written, checked before the run so that a
    typo costs no work: a file (not a folder) in an existing, writable folder."""
    raw = str(path)
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"{flag}: {raw} is a directory, not a file")
    if not folder.is_dir():
        raise UsageError(f"{flag}: cannot write report: no directory {str(folder)!r}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag}: cannot write report: permission denied")


def _default_profile() -> str:
    from sm_lint.profiles import DEFAULT

    return DEFAULT


def profile_label(settings: Iterable["Settings"]) -> str:
    """The profile the targets were checked under, for RunInfo: one name, or the names in order
    when per-folder configs chose different ones ("processing, training")."""
    return ", ".join(dict.fromkeys(one.profile for one in settings)) or _default_profile()


def outside_reason(rule: "Rule", profiles: Iterable[str]) -> str:
    """Why `rule` did not run: the profile(s) checked are not among those its page lists."""
    from sm_lint.report import OUTSIDE_PROFILE

    return (f"{OUTSIDE_PROFILE}{' and '.join(dict.fromkeys(profiles))} profile "
            f"(applies under {', '.join(rule.profiles)})")


def rule_coverage(catalogue: "Catalogue", layers: Sequence[str], settings: Iterable["Settings"],
                  cli_ignore: Sequence[str] = (), today: Optional[datetime.date] = None) -> Coverage:
    """For RunInfo: the catalogue's rules of `layers` that ran on every target, and (rule, reason)
    for those that did not (`--ignore`, a config file's ignore with its reason and end date, or a
    profile the rule does not apply to).

    `settings` holds the settings each target was checked with (one per target; repeats are fine).
    A rule ignored for some targets only is listed as skipped, with that said in the reason."""
    today = today or datetime.date.today()
    per_target = list(settings)
    reasons: Dict[str, str] = {rule: "ignored by --ignore" for rule in cli_ignore}
    for one in per_target:
        for ignore in one.ignores:
            if ignore.rule in reasons or (ignore.until is not None and ignore.until < today):
                continue
            reason = f"ignored by {one.path or 'the config'}" + (f": {ignore.reason}" if ignore.reason else "")
            if ignore.until is not None:
                reason += f" (until {ignore.until.isoformat()})"
            if not all(ignore.rule in other.ignored(today) for other in per_target):
                reason += " (for some targets only)"
            reasons[ignore.rule] = reason
    for rule in catalogue:
        outside = [one.profile for one in per_target if not rule.applies(one.profile)]
        if rule.id not in reasons and outside:
            reason = outside_reason(rule, outside)
            if len(outside) < len(per_target):
                reason += " (for some targets only)"
            reasons[rule.id] = reason
    in_layers = [rule.id for rule in catalogue if rule.layer in layers and rule.id not in ONLY_WHEN_BUILDING]
    return (tuple(r for r in in_layers if r not in reasons),
            tuple((r, reasons[r]) for r in in_layers if r in reasons))
