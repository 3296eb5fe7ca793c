"""The rule catalogue: `rules/SMxxx.md` files, each one rule's metadata, documentation and examples.

The same file is the user documentation (`sm-lint rules SM101`) and the test cases: its fenced
```dockerfile bad``` / ```dockerfile good``` blocks are run by tests/test_rule_examples.py.
A fence attribute `profile=NAME` runs its example under that profile (`--profile NAME`); without
it, an example runs under processing when the rule applies there, else under the rule's first profile.
"""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import UsageError
from sm_lint.findings import Severity

if TYPE_CHECKING:
    from sm_lint.config import Settings

LAYERS = ("dockerfile", "image", "runtime")
# Fences run as examples: a Dockerfile, an image described in JSON (built into a real archive by the
# tests), a CreateProcessingJob request in JSON, a container: a FROM-scratch Dockerfile (its
# context holds busybox) that the tests build and run with `sm-lint run` (fence attributes = flags),
# and a build: a Dockerfile that the tests build with the engine as `sm-lint gate --build` does.
EXAMPLE_LANGUAGES = ("dockerfile", "image", "json", "container", "build")
RULE_ID = re.compile(r"SM\d{3}\Z")
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
_ATTR = re.compile(r"([\w-]+)(?:=(\"[^\"]*\"|\S+))?")


class Example(NamedTuple):
    """One bad or good block, with the context blocks (files, config) written before it."""

    kind: str  # "bad" or "good"
    language: str  # one of EXAMPLE_LANGUAGES
    text: str
    options: Tuple[Tuple[str, str], ...]  # attributes of the fence: gpu=true, target=x, arg=--x (repeatable)
    files: Tuple[Tuple[str, str], ...]  # (context path, content) from ```... file=PATH``` blocks
    config: Optional[str]  # TOML text from a ```toml config``` block
    line: int  # line of the fence in the rule file, for test ids


class Rule(NamedTuple):
    id: str
    name: str
    title: str
    severity: Severity
    layer: str
    sources: Tuple[str, ...]
    path: Path
    # The profiles (SageMaker contracts) the rule applies to; a page without `profiles:` applies to
    # all four. Under another profile the rule does not run and reports list it as skipped.
    profiles: Tuple[str, ...] = ()

    @property
    def body(self) -> str:
        """The Markdown after the front matter, read on first use: `check` needs none of it."""
        return _body(self.path)

    def applies(self, profile: str) -> bool:
        return not self.profiles or profile in self.profiles

    def example_profile(self, example: "Example") -> str:
        """The profile an example runs under: its `profile=` attribute, else processing when the
        rule applies there, else the rule's first profile."""
        from sm_lint.profiles import DEFAULT

        given = dict(example.options).get("profile")
        return given or (DEFAULT if self.applies(DEFAULT) else self.profiles[0])

    def examples(self) -> List[Example]:
        return list(_examples(self.body, _front_matter_lines(self.path)))

    def document(self) -> str:
        """The page as users read it: coverage markers (`<!-- coverage: ... -->`) replaced by the
        tables of data/nvidia.toml, which are loaded only for the pages that have one."""
        if "<!-- coverage:" not in self.body:
            return self.body
        from sm_lint.nvidia import render_coverage
        return render_coverage(self.body)

    def section(self, heading: str) -> str:
        """The text under `## heading`, up to the next `## `, stripped; "" when absent."""
        match = re.search(rf"^## {re.escape(heading)}[ \t]*\n(.*?)(?=^## |\Z)", self.document(), re.M | re.S)
        return match.group(1).strip() if match else ""


def rules_dir() -> Path:
    """The shipped catalogue (wheel: sm_lint/rules) or, in a source checkout, the repo's rules/."""
    packaged = Path(__file__).parent / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


def parse_front_matter(text: str) -> Tuple[Dict[str, object], str]:
    """A small YAML subset (`key: value`, `key:` + `  - item` lists and `key: [a, b]` flow lists):
    enough for rule files, and it keeps PyYAML off the start-up path."""
    if not text.startswith("---\n"):
        raise ValueError("missing front matter")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ValueError("unterminated front matter")
    meta: Dict[str, object] = {}
    key: Optional[str] = None
    for raw in text[4:end].splitlines():
        if not raw.strip():
            continue
        if raw.lstrip().startswith("- ") and key is not None:
            items = meta.setdefault(key, [])
            assert isinstance(items, list)
            items.append(raw.lstrip()[2:].strip())
            continue
        name, sep, value = raw.partition(":")
        if not sep:
            raise ValueError(f"bad front matter line {raw!r}")
        key = name.strip()
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            meta[key] = [item.strip().strip('"') for item in value[1:-1].split(",") if item.strip()]
        else:
            meta[key] = value.strip('"') if value else []
    return meta, text[end + 5 :]


def _front_matter_lines(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    return text[: text.find("\n---\n", 4) + 5].count("\n")


def _examples(body: str, line_offset: int) -> List[Example]:
    examples: List[Example] = []
    files: List[Tuple[str, str]] = []
    config: Optional[str] = None
    for match in _FENCE.finditer(body):
        words = match.group(1).split(None, 1)
        lang = words[0] if words else ""
        attrs = dict((k, v.strip('"')) for k, v in _ATTR.findall(words[1] if len(words) > 1 else ""))
        content = match.group(2)
        if "file" in attrs:
            files.append((attrs["file"], content))
        elif lang == "toml" and "config" in attrs:
            config = content
        elif lang in EXAMPLE_LANGUAGES and ("bad" in attrs or "good" in attrs):
            kind = "bad" if "bad" in attrs else "good"
            pairs = _ATTR.findall(words[1])
            options = tuple((k, v.strip('"')) for k, v in pairs if k not in ("bad", "good"))
            line = line_offset + body.count("\n", 0, match.start()) + 1
            examples.append(Example(kind, lang, content, options, tuple(files), config, line))
            files, config = [], None
    return examples


@lru_cache(maxsize=None)
def _body(path: Path) -> str:
    return parse_front_matter(path.read_text(encoding="utf-8"))[1]


def _load_rule(path: Path) -> Rule:
    try:
        meta, _ = parse_front_matter(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise UsageError(f"{path}: broken rule file: {error}") from None
    return _rule(meta, path)


def _rule(meta: Dict[str, Any], path: Path) -> Rule:
    try:
        sources = meta.get("sources", [])
        return Rule(
            id=str(meta["id"]),
            name=str(meta["name"]),
            title=str(meta["title"]),
            severity=Severity.parse(str(meta["severity"])),
            layer=str(meta["layer"]),
            sources=tuple(sources) if isinstance(sources, list) else (str(sources),),
            path=path,
            profiles=_profiles(meta.get("profiles")),
        )
    except (KeyError, ValueError) as error:
        raise UsageError(f"{path}: broken rule file: {error}") from None


def _profiles(value: object) -> Tuple[str, ...]:
    """The `profiles:` list, every name one of profiles.NAMES (a typo would silently switch a rule
    off under a profile)."""
    from sm_lint.profiles import NAMES

    if value is None:
        return ()
    names = tuple(value) if isinstance(value, list) else (str(value),)
    unknown = [name for name in names if name not in NAMES]
    if unknown or not names:
        raise ValueError(f"profiles: {', '.join(map(str, unknown)) or 'empty'} (known: {', '.join(NAMES)})")
    return tuple(str(name) for name in names)


class Catalogue:
    """All rules by id. The shipped catalogue is loaded once per run from rules/index.json, the
    pages' front matter compiled (reading and parsing ~40 pages took ~1.5 ms of every `check`
    start); a page whose size differs from the index, or a page added or removed, sends the load
    back to the pages themselves. `python -m sm_lint.catalogue` rewrites the index, and
    tests/test_catalogue_index.py keeps it equal to the pages."""

    def __init__(self, rules: Dict[str, Rule]) -> None:
        self.rules = rules

    @classmethod
    def load(cls, directory: Optional[Path] = None) -> "Catalogue":
        """The rules of `directory`, or the shipped catalogue, which is read once per process (the
        command and each report it writes all ask for it)."""
        if directory is None:
            return _shipped()
        return cls._read(directory)

    @classmethod
    def _read(cls, folder: Path) -> "Catalogue":
        rules = {}
        for path in sorted(folder.glob("SM*.md")):
            rule = _load_rule(path)
            rules[rule.id] = rule
        return cls(rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules.values())

    def check_settings(self, settings: "Settings") -> None:
        """The rule ids a config file names (ignores, severity overrides) must exist."""
        where = settings.path or "config"
        self.check_ids([i.rule for i in settings.ignores], where)
        self.check_ids([rule for rule, _ in settings.severity], where)

    def check_ids(self, ids: List[str], where: str) -> None:
        """Unknown ids in config or on the command line are usage errors, never silently ignored."""
        unknown = [rule_id for rule_id in ids if rule_id not in self.rules]
        if unknown:
            raise UsageError(f"{where}: unknown rule id {', '.join(unknown)} (see `sm-lint rules`)")


@lru_cache(maxsize=1)
def _shipped() -> Catalogue:
    folder = rules_dir()
    return _from_index(folder) or Catalogue._read(folder)


INDEX = "index.json"


def _pages(folder: Path) -> List[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("SM") and name.endswith(".md"))


def index_of(folder: Path) -> Dict[str, Any]:
    """What rules/index.json holds: each page's size in bytes and its front matter."""
    pages = {}
    for name in _pages(folder):
        path = folder / name
        try:
            meta, _ = parse_front_matter(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise UsageError(f"{path}: broken rule file: {error}") from None
        pages[name] = {"size": path.stat().st_size, "front_matter": meta}
    return {"pages": pages}


def _from_index(folder: Path) -> Optional[Catalogue]:
    """The catalogue from the index, or None when the index is missing or does not match the pages."""
    try:
        with open(folder / INDEX, encoding="utf-8") as handle:
            pages = json.load(handle)["pages"]
        names = _pages(folder)
        where = str(folder)
        if names != sorted(pages) or any(os.stat(os.path.join(where, name)).st_size != pages[name]["size"]
                                         for name in names):
            return None
        rules = [_rule(pages[name]["front_matter"], folder / name) for name in names]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Catalogue({rule.id: rule for rule in rules})


def write_index(folder: Optional[Path] = None) -> Path:
    folder = folder or rules_dir()
    target = folder / INDEX
    target.write_text(json.dumps(index_of(folder), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    return target


if __name__ == "__main__":  # python -m sm_lint.catalogue: rewrite rules/index.json
    print(write_index())
