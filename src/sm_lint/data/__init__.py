"""Knowledge shipped as data: the TOML files here are what people read, edit and cite; each has a
compiled JSON twin that sm-lint reads at run time, because `json` parses in well under a
millisecond where importing and running `tomllib` costs tens of milliseconds, on every pre-commit
`check`. `python -m sm_lint.data` writes every twin again; tests/test_knowledge_data.py keeps them equal.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict

FOLDER = Path(__file__).parent
NAMES = ("nvidia", "shells", "profiles")


@lru_cache(maxsize=None)
def load(name: str) -> Dict[str, Any]:
    """The tables of data/<name>.toml, read from data/<name>.json."""
    return json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))


def load_toml(name: str) -> Dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads((FOLDER / f"{name}.toml").read_text(encoding="utf-8"))


def compile_all() -> None:
    for name in NAMES:
        target = FOLDER / f"{name}.json"
        target.write_text(json.dumps(load_toml(name), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {target}")
