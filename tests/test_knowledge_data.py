"""The knowledge shipped as data (src/sm_lint/data): sm-lint reads each TOML's compiled JSON twin,
so the twins must say exactly what the TOML files say."""
from __future__ import annotations

import pytest

from sm_lint import data


@pytest.mark.parametrize("name", data.NAMES)
def test_the_compiled_twin_is_the_toml(name: str) -> None:
    assert data.load(name) == data.load_toml(name), f"run `python -m sm_lint.data` after editing {name}.toml"


def test_every_data_file_has_a_twin() -> None:
    assert sorted(p.stem for p in data.FOLDER.glob("*.toml")) == sorted(data.NAMES)
