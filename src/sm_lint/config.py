"""Project configuration: `[tool.sm-lint]` in pyproject.toml or top-level keys in .sm-lint.toml.

Looked up from the Dockerfile's folder upwards to the repository root (the first folder holding
.git), the nearest file winning; `--config FILE` replaces the lookup. CLI flags are layered on top
by the caller (see `Settings.with_overrides`).
"""
from __future__ import annotations

import datetime
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import UsageError
from sm_lint.findings import Severity

FAIL_ON = ("error", "warning", "info", "never")
GPU_MODES = ("auto", "true", "false")
_KEYS = {"ignore", "severity", "fail-on", "gpu", "build-args", "inline-ignores", "target", "context", "platform",
         "max-file-size", "profile"}
# Dockerfiles larger than this are refused before any work (`max-file-size`, `--max-file-size`): real
# ones are kilobytes, and the analysis of a huge one costs seconds and hundreds of MB.
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


class Ignore(NamedTuple):
    rule: str
    reason: str = ""
    until: Optional[datetime.date] = None


class ExpiredIgnore(NamedTuple):
    rule: str
    until: datetime.date
    reason: str
    path: str


class Settings(NamedTuple):
    ignores: Tuple[Ignore, ...] = ()
    severity: Tuple[Tuple[str, Severity], ...] = ()
    fail_on: str = "warning"
    gpu: str = "auto"
    build_args: Tuple[Tuple[str, str], ...] = ()
    inline_ignores: bool = True
    target: Optional[str] = None
    platform: str = "linux/amd64"  # the build's target platform: BuildKit's TARGETPLATFORM, TARGETARCH ...
    context: Optional[str] = None  # build context folder, relative to the config file's folder
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; larger Dockerfiles are a usage error
    profile: str = "processing"  # the SageMaker contract checked (profiles.NAMES): `--profile`, `profile`
    path: Optional[str] = None  # the file these settings came from

    def ignored(self, today: datetime.date) -> frozenset:
        return frozenset(i.rule for i in self.ignores if i.until is None or i.until >= today)

    def expired(self, today: datetime.date) -> List[ExpiredIgnore]:
        return [
            ExpiredIgnore(i.rule, i.until, i.reason, self.path or "")
            for i in self.ignores
            if i.until is not None and i.until < today
        ]

    def with_overrides(self, **overrides: Any) -> "Settings":
        """CLI flags win over the file; a None override leaves the file's value."""
        return self._replace(**{k: v for k, v in overrides.items() if v is not None})

    def with_cli(self, ignore: Tuple[str, ...], **overrides: Any) -> "Settings":
        """The command line over a file's settings: `--ignore` adds to the file's ignores, the
        other flags replace the file's values."""
        return self.with_overrides(ignores=self.ignores + tuple(Ignore(rule) for rule in ignore), **overrides)


def find_config(start: Path, memo: Optional[Dict[str, Optional[Path]]] = None) -> Optional[Path]:
    """The nearest .sm-lint.toml, or pyproject.toml with a [tool.sm-lint] table, up to the repo root.

    `memo` maps folders already walked to their answer, so that a run over many sibling folders
    looks at each ancestor once."""
    memo = {} if memo is None else memo
    folder = os.path.abspath(start)
    walked = []
    found: Optional[Path] = None
    while True:
        if folder in memo:
            found = memo[folder]
            break
        walked.append(folder)
        candidate = os.path.join(folder, ".sm-lint.toml")
        if os.path.isfile(candidate):
            found = Path(candidate)
            break
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate) and _has_tool_table(Path(candidate)):
            found = Path(candidate)
            break
        parent = os.path.dirname(folder)
        if os.path.exists(os.path.join(folder, ".git")) or parent == folder:
            break
        folder = parent
    for visited in walked:
        memo[visited] = found
    return found


def _has_tool_table(pyproject: Path) -> bool:
    # A cheap text probe first: most pyproject.toml files have no sm-lint table to parse.
    try:
        return "[tool.sm-lint" in pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def load(path: Path) -> Settings:
    return from_table(read_table(path), str(path))


def read_table(path: Path) -> Dict[str, Any]:
    """The sm-lint table of a config file: `[tool.sm-lint]` of a pyproject.toml, or the whole file."""
    # Imported here: most runs find no config file and need no TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read config: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: invalid TOML: {error}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise UsageError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    if path.name == "pyproject.toml":
        table: Dict[str, Any] = data.get("tool", {}).get("sm-lint", {})
        return table
    return data


def from_table(table: Dict[str, Any], where: str) -> Settings:
    """Validate a config table; every problem is a usage error naming the file and key."""
    if not isinstance(table, dict):
        raise UsageError(f"{where}: [tool.sm-lint] must be a table")
    unknown = sorted(set(table) - _KEYS - {"gate"})
    if unknown:
        raise UsageError(f"{where}: unknown config key {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    settings = Settings(path=where)
    if "ignore" in table:
        settings = settings._replace(ignores=tuple(_ignore(item, where) for item in _list(table, "ignore", where)))
    if "severity" in table:
        severity = table["severity"]
        if not isinstance(severity, dict):
            raise UsageError(f"{where}: severity must be a table of RULE = \"error|warning|info\"")
        settings = settings._replace(severity=tuple((k, _severity(k, v, where)) for k, v in severity.items()))
    if "fail-on" in table:
        settings = settings._replace(fail_on=_choice(table["fail-on"], FAIL_ON, "fail-on", where))
    if "gpu" in table:
        value = table["gpu"]
        text = str(value).lower() if isinstance(value, bool) else value
        settings = settings._replace(gpu=_choice(text, GPU_MODES, "gpu", where))
    if "build-args" in table:
        args = table["build-args"]
        if not isinstance(args, dict):
            raise UsageError(f"{where}: build-args must be a table of NAME = \"value\"")
        settings = settings._replace(build_args=tuple((k, _build_arg(k, v, where)) for k, v in args.items()))
    if "inline-ignores" in table:
        if not isinstance(table["inline-ignores"], bool):
            raise UsageError(f"{where}: inline-ignores must be true or false")
        settings = settings._replace(inline_ignores=table["inline-ignores"])
    for key in ("target", "context", "platform"):
        if key in table:
            if not isinstance(table[key], str):
                raise UsageError(f"{where}: {key} must be a string")
            settings = settings._replace(**{key: table[key]})
    if "platform" in table:
        check_platform(settings.platform, f"{where}: platform")
    if settings.context is not None:
        folder = Path(where).parent / settings.context
        if not folder.is_dir():
            raise UsageError(f"{where}: context {settings.context!r}: no such directory ({folder})")
    if "max-file-size" in table:
        settings = settings._replace(max_file_size=parse_size(table["max-file-size"], f"{where}: max-file-size"))
    if "profile" in table:
        settings = settings._replace(profile=check_profile(table["profile"], f"{where}: profile"))
    return settings


def check_profile(value: Any, where: str) -> str:
    """One of the profiles (processing, training, inference, batch-transform); else a usage error."""
    from sm_lint.profiles import NAMES

    if not isinstance(value, str) or value.lower() not in NAMES:
        raise UsageError(f"{where} must be one of {', '.join(NAMES)} (got {value!r})")
    return value.lower()


def _build_arg(name: str, value: Any, where: str) -> str:
    """A string as it is; an integer as its digits (CUDA = 12 is "12"). Floats are refused: TOML
    reads 12.10 as 12.1, so the text Docker would get is not the one written. So are booleans,
    arrays and tables: `docker build --build-arg` takes text only."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        raise UsageError(f"{where}: build-args.{name} must be a quoted string: TOML reads {value!r} as a number "
                         f"and drops written digits (12.10 becomes 12.1); write {name} = \"...\"")
    kind = {bool: "a boolean", list: "an array", dict: "a table"}.get(type(value), type(value).__name__)
    raise UsageError(f"{where}: build-args.{name} must be a string, not {kind}; write {name} = \"...\"")


def parse_size(value: Any, where: str) -> int:
    """A size in bytes: an integer, or text such as "4M", "512k", "2MiB", "1G" (binary units)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)(?:i?b)?\s*", value, re.IGNORECASE) if isinstance(value, str) else None
        if match is None:
            raise UsageError(f"{where} must be a size in bytes, or with a unit: 512k, 4M, 1G (got {value!r})")
        number = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if number <= 0:
        raise UsageError(f"{where} must be more than 0 bytes (got {value!r})")
    return number


def check_platform(text: str, where: str) -> str:
    """`os/arch[/variant]` as `docker build --platform` takes it; anything else is a usage error."""
    if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?", text):
        raise UsageError(f"{where} must be os/arch[/variant], for example linux/amd64 (got {text!r})")
    return text


def _list(table: Dict[str, Any], key: str, where: str) -> List[Any]:
    value = table[key]
    if not isinstance(value, list):
        raise UsageError(f"{where}: {key} must be a list")
    return value


def _ignore(item: Any, where: str) -> Ignore:
    if isinstance(item, str):
        return Ignore(item)
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        extra = set(item) - {"id", "reason", "until"}
        if extra:
            raise UsageError(f"{where}: unknown key {', '.join(sorted(extra))} in ignore entry for {item['id']}")
        until = item.get("until")
        if isinstance(until, str):
            try:
                until = datetime.date.fromisoformat(until)
            except ValueError:
                raise UsageError(f"{where}: ignore {item['id']}: until must be a date (YYYY-MM-DD)") from None
        if until is not None and not isinstance(until, datetime.date):
            raise UsageError(f"{where}: ignore {item['id']}: until must be a date (YYYY-MM-DD)")
        return Ignore(item["id"], str(item.get("reason", "")), until)
    raise UsageError(f"{where}: ignore entries are rule ids or {{id = \"SM101\", reason = \"...\", until = 2026-12-31}}")


def _severity(rule: str, value: Any, where: str) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as error:
        raise UsageError(f"{where}: severity.{rule}: {error}") from None


def _choice(value: Any, choices: Tuple[str, ...], key: str, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise UsageError(f"{where}: {key} must be one of {', '.join(choices)}, not {value!r}")
    return value.lower()
