"""Path helpers shared by the checks: the reserved /opt/ml tree and POSIX path joining as Docker does it."""
from __future__ import annotations

import posixpath

OPT_ML = "/opt/ml"


def normalise(path: str, cwd: str = "/") -> str:
    """Absolute, normalised POSIX path; relative paths resolve against `cwd` like WORKDIR and COPY do."""
    joined = posixpath.join(cwd or "/", path) if not path.startswith("/") else path
    cleaned = posixpath.normpath(joined)
    # normpath keeps a leading "//" (POSIX allows it to mean something else); Docker does not.
    return "/" + cleaned.lstrip("/")


def under_opt_ml(path: str) -> bool:
    return path == OPT_ML or path.startswith(OPT_ML + "/")
