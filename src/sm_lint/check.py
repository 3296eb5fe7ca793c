"""`sm-lint check`: find Dockerfiles, read them safely, resolve each one's configuration, lint them."""
from __future__ import annotations

import datetime
import errno
import fnmatch
import os
import stat
import sys
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from sm_lint import config
from sm_lint.catalogue import Catalogue
from sm_lint.errors import UsageError
from sm_lint.findings import Finding, Location, Severity

_PATTERNS = ("dockerfile", "*.dockerfile", "dockerfile.*")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


class CheckOptions(NamedTuple):
    """What the command line says; None leaves the configuration file's value."""

    config_file: Optional[Path] = None
    ignore: Tuple[str, ...] = ()
    fail_on: Optional[str] = None
    gpu: Optional[str] = None
    build_args: Tuple[Tuple[str, str], ...] = ()
    target: Optional[str] = None
    inline_ignores: bool = True
    context: Optional[Path] = None
    platform: Optional[str] = None
    max_file_size: Optional[int] = None  # bytes; None: the config's (default config.DEFAULT_MAX_FILE_SIZE)
    profile: Optional[str] = None  # `--profile`; None: the config's (default processing)


class CheckResult(NamedTuple):
    findings: List[Finding]
    targets: Tuple[str, ...]
    failed: bool
    fail_on: str


def discover(paths: List[str]) -> List[str]:
    """Files named on the command line as they are; folders searched for Dockerfile-like names.
    Every path found is a regular file (or a link to one): a FIFO, device, socket, broken link
    or link loop is a usage error here, before any work (reading a FIFO would block forever)."""
    found: List[str] = []
    for raw in paths:
        if raw == "-":
            found.append(raw)
            continue
        kind = _kind(raw)
        if kind == "file":
            found.append(raw)
        elif kind == "directory":
            inside = sorted(_walk(Path(raw)))
            if not inside:
                raise UsageError(f"{raw}: no Dockerfile in this directory (looked for Dockerfile, *.Dockerfile, "
                                 "Dockerfile.*, *.dockerfile)")
            for path in inside:
                found_kind = _kind(path)
                if found_kind != "file":
                    raise UsageError(f"{path}: found while searching {raw}: {found_kind}")
            found.extend(inside)
        else:
            raise UsageError(f"{raw}: {kind}")
    return found


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(path: str) -> str:
    """"file", "directory", or what is wrong with `path`, in words."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop (too many levels of symbolic links)"
        if error.errno == errno.ENOENT and os.path.islink(path):
            return f"broken symbolic link (to {os.readlink(path)!r})"
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file or directory"
        return f"cannot read: {error.strerror or error}"
    except ValueError:  # an embedded NUL byte
        return "no such file or directory"
    if stat.S_ISREG(info.st_mode):
        return "file"
    if stat.S_ISDIR(info.st_mode):
        return "directory"
    what = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
    return f"not a regular file: {what}"


def _walk(root: Path) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in files:
            lowered = name.lower()
            if any(fnmatch.fnmatchcase(lowered, pattern) for pattern in _PATTERNS):
                yield os.path.join(folder, name)


def read_dockerfile(path: str, limit: int = config.DEFAULT_MAX_FILE_SIZE) -> str:
    """The file's text; binary or non-UTF-8 input is a usage error, not a lint finding, and so is
    input larger than `limit` bytes (read no further than that)."""
    try:
        data = sys.stdin.buffer.read(limit + 1) if path == "-" else _read_regular(path, limit)
    except OSError as error:
        raise UsageError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > limit:
        raise UsageError(too_large(path, limit))
    if b"\0" in data[:8192]:
        raise UsageError(f"{path}: binary file, not a Dockerfile")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text (byte {error.start}); Dockerfiles must be UTF-8") from None


def _read_regular(path: str, limit: int) -> bytes:
    """At most limit + 1 bytes of a regular file; opened without blocking, so a FIFO put in place
    after discovery cannot hang the run, and refused by its type."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path}: not a regular file")
        if info.st_size > limit:
            raise UsageError(too_large(path, limit))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def too_large(path: str, limit: int) -> str:
    return (f"{path}: larger than {_size(limit)}, the most sm-lint reads (raise it with --max-file-size or "
            "max-file-size in the config)")


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


class _Settings:
    """Per-folder configuration lookup, cached, with the command line layered on top."""

    def __init__(self, options: CheckOptions, catalogue: Catalogue) -> None:
        self.options = options
        self.catalogue = catalogue
        self.cache: Dict[Optional[Path], config.Settings] = {}
        self.found: Dict[str, Optional[Path]] = {}  # folder -> its config file, shared by all files
        catalogue.check_ids(list(options.ignore), "--ignore")

    def for_file(self, path: str) -> config.Settings:
        if self.options.config_file is not None:
            source: Optional[Path] = self.options.config_file
            if not source.is_file():
                raise UsageError(f"{source}: config file not found")
        else:
            folder = os.getcwd() if path == "-" else os.path.dirname(path) or "."
            source = config.find_config(Path(folder), self.found)
        if source not in self.cache:
            self.cache[source] = self._layer(config.load(source) if source else config.Settings())
        return self.cache[source]

    def _layer(self, settings: config.Settings) -> config.Settings:
        self.catalogue.check_settings(settings)
        opts = self.options
        build_args = dict(settings.build_args)
        build_args.update(dict(opts.build_args))
        return settings.with_cli(
            opts.ignore, fail_on=opts.fail_on, gpu=opts.gpu, build_args=tuple(build_args.items()),
            target=opts.target, platform=opts.platform, inline_ignores=None if opts.inline_ignores else False,
            max_file_size=opts.max_file_size, profile=opts.profile)


def run_check(paths: List[str], options: CheckOptions, catalogue: Catalogue,
              today: Optional[datetime.date] = None) -> CheckResult:
    from sm_lint.dockerfile.lint import lint_text  # the parser and checks load only for this command
    from sm_lint.report import failed

    today = today or datetime.date.today()
    files = discover(paths)
    layered = _Settings(options, catalogue)
    # Every file's config, size and context first: bad input is refused before any work.
    stdin_text = None
    for path in files:
        settings = layered.for_file(path)
        if path == "-":
            stdin_text = read_dockerfile(path, settings.max_file_size)
        elif os.stat(path).st_size > settings.max_file_size:
            raise UsageError(too_large(path, settings.max_file_size))
        _context_dir(path, settings, options)
    findings: List[Finding] = []
    failing = False
    for path in files:
        settings = layered.for_file(path)
        text = stdin_text if path == "-" and stdin_text is not None else read_dockerfile(path, settings.max_file_size)
        context = _context_dir(path, settings, options)
        try:
            result = lint_text(text, path, settings, catalogue, context, today)
        except RecursionError:  # a construct nested deeper than any analysis here expected
            raise UsageError(f"{path}: nested too deeply for sm-lint to analyse") from None
        failing = failing or failed(result, settings.fail_on)
        findings.extend(result)
    expired = _expired(layered.cache.values(), today, catalogue)
    findings.extend(expired)
    fail_on = options.fail_on or next((s.fail_on for s in layered.cache.values()), "warning")
    failing = failing or failed(expired, fail_on)
    return CheckResult(findings, tuple(files), failing, fail_on)


def _context_dir(path: str, settings: config.Settings, options: CheckOptions) -> Optional[Path]:
    if options.context is not None:
        if not options.context.is_dir():
            raise UsageError(f"--context {options.context}: no such directory")
        return options.context
    if settings.context and settings.path:
        return Path(settings.path).parent / settings.context
    return Path.cwd() if path == "-" else Path(path).parent


def _expired(all_settings: Iterable[config.Settings], today: datetime.date, catalogue: Catalogue) -> List[Finding]:
    """SM192 once per config file and rule: the ignore stopped applying on its `until` date."""
    findings = []
    for settings in all_settings:
        for item in settings.expired(today):
            line = _line_of(item.path, item.rule)
            reason = f" ({item.reason})" if item.reason else ""
            message = (f"the ignore for {item.rule}{reason} expired on {item.until.isoformat()}: "
                       f"{item.rule} is reported again")
            severity = dict(settings.severity).get("SM192") or catalogue["SM192"].severity
            findings.append(Finding("SM192", Severity(severity), message, Location(item.path, line, 1)))
    return findings


def _line_of(path: str, needle: str) -> int:
    try:
        for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if needle in text:
                return number
    except OSError:
        pass
    return 1
