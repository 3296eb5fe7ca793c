"""The SageMaker container contracts as profiles (`--profile`): which argument the platform passes,
how it stops a container, which /opt/ml paths it mounts over, and the serving limits. The numbers
live in data/profiles.toml with their sources; every layer reads them from here."""
from __future__ import annotations

from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from sm_lint.data import load

DEFAULT = "processing"
NAMES = ("processing", "training", "inference", "batch-transform")


class Profile(NamedTuple):
    name: str
    title: str
    argument: str  # what SageMaker appends after the image ("" for Processing)
    stop_signal: str
    grace_seconds: int  # 0: the contract states none
    mounted: Tuple[str, ...]  # paths the platform mounts over (an image's files there vanish)
    allowed: Tuple[str, ...]  # paths under those where baked files are the documented layout
    sources: Tuple[str, ...]
    extra: Mapping[str, Any]  # the profile's other numbers (port, timeouts, files)

    @property
    def serves(self) -> bool:
        return self.argument == "serve"

    def get(self, key: str, default: Any = None) -> Any:
        return self.extra.get(key, default)

    def hides(self, path: str) -> bool:
        """True when the platform mounts over `path` under this profile (and baking it is no layout
        the contract documents)."""
        path = path.rstrip("/") or "/"
        if any(_within(path, allowed) for allowed in self.allowed):
            return False
        return any(_within(path, mounted) for mounted in self.mounted)


_FIELDS = ("title", "argument", "stop_signal", "grace_seconds", "mounted", "allowed", "sources")


def get(name: Optional[str] = None) -> Profile:
    """The profile called `name` (the default when None); KeyError for an unknown name."""
    name = name or DEFAULT
    table: Dict[str, Any] = load("profiles")[name]
    return Profile(name, table["title"], table["argument"], table["stop_signal"], table["grace_seconds"],
                   tuple(table["mounted"]), tuple(table["allowed"]), tuple(table["sources"]),
                   {k: v for k, v in table.items() if k not in _FIELDS})


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
