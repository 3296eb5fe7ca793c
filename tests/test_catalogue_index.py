"""rules/index.json, the compiled front matter that `check` loads instead of every rule page, is
kept equal to the pages (`python -m sm_lint.catalogue` rewrites it), and a stale one is never used."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from sm_lint.catalogue import INDEX, Catalogue, _from_index, index_of, rules_dir, write_index


def test_index_equals_the_rule_pages() -> None:
    folder = rules_dir()
    stored = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    assert stored == index_of(folder), "rules/index.json is stale: run `python -m sm_lint.catalogue`"


def test_catalogue_from_the_index_is_the_catalogue_of_the_pages() -> None:
    folder = rules_dir()
    from_index = _from_index(folder)
    assert from_index is not None
    from_pages = Catalogue._read(folder)
    assert list(from_index) == list(from_pages)
    assert all(rule.body == from_pages[rule.id].body for rule in from_index)


def test_a_stale_index_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(rules_dir(), folder)
    write_index(folder)
    assert _from_index(folder) is not None
    page = folder / "SM101.md"
    page.write_text(page.read_text(encoding="utf-8").replace("severity: error", "severity: warning", 1),
                    encoding="utf-8")
    assert _from_index(folder) is None  # the page's size changed
    assert Catalogue._read(folder)["SM101"].severity.label == "warning"
    write_index(folder)
    (folder / "SM999.md").write_text((folder / "SM101.md").read_text(encoding="utf-8").replace("SM101", "SM999"),
                                     encoding="utf-8")
    assert _from_index(folder) is None  # a page the index does not know
