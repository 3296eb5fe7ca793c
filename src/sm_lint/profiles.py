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

    @property
    def command(self) -> str:
        """How the platform starts the image, for messages: `docker run IMAGE serve`."""
        return f"docker run IMAGE {self.argument}".rstrip()

    def hides(self, path: str) -> bool:
        """True when the platform mounts over `path` under this profile (and baking it is no layout
        the contract documents)."""
        return self.hidden_by(path) is not None

    def hidden_by(self, path: str) -> Optional[str]:
        """The mounted folder that hides `path` under this profile, or None when the image's file
        there is what the container sees (outside every mount, or an allowed layout)."""
        path = path.rstrip("/") or "/"
        if any(_within(path, allowed) for allowed in self.allowed):
            return None
        return next((mounted for mounted in self.mounted if _within(path, mounted)), None)

    def touches(self, path: str) -> bool:
        """True when `path` is a folder that holds a mount of this profile (`/opt/ml` under
        training holds /opt/ml/model): writing the folder itself hides nothing, but its parts may."""
        path = path.rstrip("/") or "/"
        return any(_within(mounted, path) for mounted in self.mounted)


_FIELDS = ("title", "argument", "stop_signal", "grace_seconds", "mounted", "allowed", "sources")


def get(name: Optional[str] = None) -> Profile:
    """The profile called `name` (the default when None); KeyError for an unknown name."""
    name = name or DEFAULT
    table: Dict[str, Any] = load("profiles")[name]
    return Profile(name, table["title"], table["argument"], table["stop_signal"], table["grace_seconds"],
                   tuple(table["mounted"]), tuple(table["allowed"]), tuple(table["sources"]),
                   {k: v for k, v in table.items() if k not in _FIELDS})


def programs(package: str, with_dependencies: bool = True) -> Tuple[str, ...]:
    """The executables that the pip package `package` installs on PATH (data/profiles.toml
    [programs]); () for any other package, and for one whose program comes from a dependency
    when dependencies are not installed (`pip install --no-deps`)."""
    entry = load("profiles").get("programs", {}).get(package.lower().replace("_", "-"))
    if not entry or (entry.get("via") and not with_dependencies):
        return ()
    return tuple(entry["provides"])


def base_takes(image: str, argument: str, entrypoint_kept: bool) -> bool:
    """Whether the external base image `image` is known to take `argument` (data/profiles.toml
    [[bases]]): a program of that name on its PATH, or, while the Dockerfile keeps the base's
    ENTRYPOINT (`entrypoint_kept`), an ENTRYPOINT that accepts it."""
    from fnmatch import fnmatchcase

    for base in load("profiles").get("bases", ()):
        if fnmatchcase(image, base["image"]):
            if argument in base.get("programs", ()) or (entrypoint_kept and argument in base.get("entrypoint_takes", ())):
                return True
    return False


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
