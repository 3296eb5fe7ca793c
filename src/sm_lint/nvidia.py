"""What is an NVIDIA driver, what is the CUDA toolkit, and what is neither: the tables of
`data/nvidia.toml`, read once and shared by the Dockerfile layer, the image layer and the rule pages.

The knowledge lives in the data file (each entry with its source); this module only compiles it and
answers questions: what kind a package is, what kind a file in an image is, what a base image carries.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Pattern, Tuple

from sm_lint import data

KINDS = ("neither", "driver+toolkit", "driver", "toolkit", "gpu")  # precedence when several entries match
MANAGER_GROUPS = {
    "system": ("apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "microdnf", "tdnf", "rpm", "zypper", "apk"),
    "conda": ("conda", "mamba", "micromamba"),
    "pip": ("pip",),
}
# Environment the nvidia/cuda images and the NVIDIA container runtime use: a GPU image's sign in both layers.
GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_REQUIRE_CUDA", "CUDA_VERSION")
_GROUP_OF = {manager: group for group, managers in MANAGER_GROUPS.items() for manager in managers}
_RPM_MANAGERS = frozenset({"yum", "dnf", "microdnf", "tdnf", "zypper"})
# What a variable the Dockerfile does not set, or a glob, may stand for when matching names: a
# driver branch, a CUDA X-Y, an installer's arch-version, nothing.
_UNKNOWN = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\*|\?|\[[^\]]*\]")
_STAND_INS = ("535", "12-2", "x86_64-535.104.05", "", "535-server")
_RPM_FILE = re.compile(r"^(.+?)-\d[^-]*-[^-]+?(?:\.[a-z0-9_]+)?$")


def _alternation(patterns: List[str], whole: bool = True) -> Pattern[str]:
    """One regex for many; case-sensitive (re.I doubles the compile time): package names and image
    references are lowercased before they are matched, file names keep their case."""
    if not patterns:
        return re.compile(r"(?!)")
    body = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(f"^(?:{body})$" if whole else body)


def knowledge() -> Dict[str, Any]:
    """The tables of data/nvidia.toml (read from its compiled JSON twin: sm_lint.data)."""
    return data.load("nvidia")


# Each table is compiled on first use only: a Dockerfile that copies no file never compiles the
# file tables, an image never compiles the package tables.

_LITERAL = re.compile(r"[a-z0-9_:-]+")  # a name with no regex syntax at all (`.` and `+` are syntax)


class _Names(NamedTuple):
    kind: str
    literal: FrozenSet[str]  # plain names: a set lookup (most of the table; compiling them costs ms)
    pattern: Pattern[str]  # the rest, one alternation

    def match(self, name: str) -> bool:
        name = name.lower()
        return name in self.literal or bool(self.pattern.match(name))


@lru_cache(maxsize=None)
def _package_patterns(group: str) -> List[_Names]:
    rows = [entry for entry in knowledge()["package"] if entry["manager"] == group]
    tables = []
    for kind in KINDS:
        names = [n for e in rows if e["kind"] == kind for n in e["names"]]
        literal = frozenset(n for n in names if _LITERAL.fullmatch(n))
        tables.append(_Names(kind, literal, _alternation([n for n in names if n not in literal])))
    return tables


def _file_patterns(kind: str, key: str, classes: Tuple[str, ...] = ()) -> List[str]:
    return [p for e in knowledge()["file"] if e["kind"] == kind and (not classes or e["class"] in classes)
            for p in e.get(key, ())]


class _FileTables(NamedTuple):
    driver_names: Pattern[str]  # basenames of driver libraries, modules, installers
    driver_binaries: Pattern[str]  # basenames of driver programs (only in bin/sbin/lib folders)
    driver_paths: Pattern[str]
    excluded: Pattern[str]
    binary_folder: Pattern[str]
    toolkit_names: Pattern[str]
    toolkit_paths: Pattern[str]
    compat_paths: Pattern[str]


@lru_cache(maxsize=1)
def _files() -> _FileTables:
    exclusions = knowledge()["file_exclusions"]
    return _FileTables(
        driver_names=_alternation(_file_patterns("driver", "names", ("library", "kernel", "installer"))),
        driver_binaries=_alternation(_file_patterns("driver", "names", ("binary",))),
        driver_paths=_alternation(_file_patterns("driver", "paths")),
        excluded=_alternation(exclusions["paths"], whole=False),
        binary_folder=re.compile(exclusions["binary_folders"]),
        toolkit_names=_alternation(_file_patterns("toolkit", "names")),  # libcublasLt
        toolkit_paths=_alternation(_file_patterns("toolkit", "paths"), whole=False),
        compat_paths=_alternation(_file_patterns("compat", "paths"), whole=False),
    )


@lru_cache(maxsize=None)
def _installer(which: str) -> Pattern[str]:
    return _alternation([knowledge()["installers"][which]])


@lru_cache(maxsize=1)
def _bases() -> Tuple[Tuple[str, Pattern[str], Optional[Pattern[str]]], ...]:
    return tuple((b["kind"], _alternation([b["repository"]]), _alternation([b["tag"]]) if "tag" in b else None)
                 for b in knowledge()["base"])


# --------------------------------------------------------------------------------------------------
# Packages


class PackageKind(NamedTuple):
    kind: str  # driver, toolkit, driver+toolkit, gpu or neither
    name: str  # the package name that matched (a package file or glob gives the name it stands for)
    guessed: bool  # True when a glob or an unset variable had to be filled in to match

    @property
    def driver(self) -> bool:
        return self.kind in ("driver", "driver+toolkit")

    @property
    def toolkit(self) -> bool:
        return self.kind in ("toolkit", "driver+toolkit")


@lru_cache(maxsize=4096)  # the same few hundred names recur across a repository's Dockerfiles
def package_kind(word: str, manager: str) -> Optional[PackageKind]:
    """What installing `word` with `manager` brings: a name, a `name=version`, a package file
    (`./x_1.0_amd64.deb`, `x-1.0-1.el8.x86_64.rpm`), possibly with globs or unset variables."""
    group = _GROUP_OF.get(manager)
    if group is None:
        return None
    names = _candidate_names(word, manager)
    for name in names:  # the most specific name decides; among kinds, the order of KINDS
        for table in _package_patterns(group):
            if table.match(name):
                return PackageKind(table.kind, name, False)
    if not _UNKNOWN.search(word):
        return None
    for table in _package_patterns(group):
        for name in names:
            for stand_in in _STAND_INS:
                filled = _UNKNOWN.sub(stand_in, name)
                if filled and table.match(filled):
                    return PackageKind(table.kind, name, True)
    return None


def _candidate_names(word: str, manager: str) -> List[str]:
    if _GROUP_OF[manager] != "system":
        return [word]
    leaf = word.rsplit("/", 1)[-1]
    lowered = leaf.lower()
    if lowered.endswith(".deb"):
        return [leaf[:-4].split("_", 1)[0]]
    if lowered.endswith(".rpm"):
        stem = leaf[:-4]
        match = _RPM_FILE.match(stem)
        # `name-version-release.arch`, or a glob standing for version and release: `kmod-nvidia-*`
        names = [match.group(1)] if match else []
        names += [stem, stem.rstrip("*-.")]
        return names
    name = word.split("=", 1)[0]
    # `libcuda1:i386` (a Debian architecture), `nvidia-driver:latest-dkms` (a dnf module stream)
    names = [name, name.split(":", 1)[0]] if ":" in name else [name]
    if manager in _RPM_MANAGERS:
        # yum/dnf/zypper take `name-version[-release]`: cuda-cudart-12-2-${NV_CUDA_CUDART_VERSION}
        stem = name
        while True:
            stem, dash, last = stem.rpartition("-")
            if not dash or not stem or not (last[:1].isdigit() or last.startswith("$")):
                break
            names.append(stem)
    return names


def is_driver_package(name: str, manager: str = "apt") -> bool:
    found = package_kind(name, manager)
    return found is not None and found.driver


def is_toolkit_package(name: str, manager: str = "apt") -> bool:
    found = package_kind(name, manager)
    return found is not None and found.toolkit


def is_torch(name: str) -> bool:
    return name in knowledge()["pytorch"]["packages"]


def is_torch_cuda(spec: str, index: Optional[str]) -> bool:
    """A CUDA build of torch: `torch==2.1.0+cu121`, or installed from a cuXXX wheel index."""
    pattern = knowledge()["pytorch"]["cuda_build"]
    return bool(re.search(pattern, spec) or (index and re.search(pattern, index)))


def is_torch_cpu(spec: str, index: Optional[str]) -> bool:
    pattern = knowledge()["pytorch"]["cpu_index"]
    return bool(re.search(pattern, spec) or (index and re.search(pattern, index)))


def is_driver_installer(word: str) -> bool:
    return _matches_filled(_installer("driver"), word.rsplit("/", 1)[-1])


def is_cuda_runfile(word: str) -> bool:
    return _matches_filled(_installer("cuda_runfile"), word.rsplit("/", 1)[-1])


def _matches_filled(pattern: Pattern[str], name: str) -> bool:
    if pattern.match(name):
        return True
    return bool(_UNKNOWN.search(name)) and any(pattern.match(_UNKNOWN.sub(s, name)) for s in ("535.104.05", "x86_64"))


# --------------------------------------------------------------------------------------------------
# Files in an image


def driver_file_class(path: str) -> Optional[str]:
    """binary, library, firmware, kernel or installer when `path` is a driver file; else None."""
    k = _files()
    if k.excluded.search(path):
        return None
    folder, _, name = path.rstrip("/").rpartition("/")
    if k.driver_binaries.match(name):
        if any(k.binary_folder.match(part) for part in folder.split("/")):
            return "binary"
        return None
    if k.driver_names.match(name):
        if name.endswith(".run"):
            return "installer"
        return "kernel" if ".ko" in name else "library"
    if k.driver_paths.match(path):
        return "firmware" if "/firmware/" in path else "kernel"
    return None


def driver_harm(kind: str) -> str:
    """What a driver file of class `kind` in the image does to a GPU job (the data's `harm`)."""
    return next(e["harm"] for e in knowledge()["file"] if e["kind"] == "driver" and e["class"] == kind)


def is_driver_file(path: str) -> bool:
    """A driver binary, library, firmware file, kernel module (or its sources) or installer; not the
    forward-compatibility copy, a link stub, documentation or shared data."""
    return driver_file_class(path) is not None


def is_compat_file(path: str) -> bool:
    return bool(_files().compat_paths.search(path))


def is_toolkit_file(path: str) -> bool:
    """The CUDA runtime or a CUDA library (not a stub, not the compat copy of the driver)."""
    k = _files()
    if "/stubs/" in path or "/compat/" in path:
        return False
    name = path.rsplit("/", 1)[-1]
    return bool(k.toolkit_names.match(name) or k.toolkit_paths.search(path))


# --------------------------------------------------------------------------------------------------
# Base images


class BaseImage:
    """What a FROM reference says about CUDA: `kind` toolkit, none or unknown (data/nvidia.toml [[base]])."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        lowered = reference.lower().split("@", 1)[0]
        last = lowered.rsplit("/", 1)[-1]
        repo, _, tag = lowered.rpartition(":") if ":" in last else (lowered, "", "")
        self.repository = repo
        self.tag = tag
        self.kind = "unknown"
        for kind, repository, tag_pattern in _bases():
            if repository.match(repo) and (tag_pattern is None or (tag and tag_pattern.match(tag))):
                self.kind = kind
                break

    @property
    def provides_toolkit(self) -> bool:
        return self.kind == "toolkit"

    @property
    def is_gpu(self) -> bool:
        return self.kind == "toolkit"

    @property
    def known(self) -> bool:
        return self.kind != "unknown"


# --------------------------------------------------------------------------------------------------
# Coverage for the rule pages: `<!-- coverage: packages driver -->` and the like are replaced by a
# table rendered from the data, so the documentation cannot drift from what the checks do.

_COVERAGE = re.compile(r"<!-- coverage: (packages|files|bases) (\w+) -->")


def render_coverage(body: str) -> str:
    return _COVERAGE.sub(lambda m: _coverage_table(m.group(1), m.group(2)), body)


def _coverage_table(section: str, kind: str) -> str:
    k = knowledge()
    lines = ["| where | names | source |", "| --- | --- | --- |"]
    for row in _coverage_rows(k, section, kind):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def _coverage_rows(k: Dict[str, Any], section: str, kind: str) -> Iterator[Tuple[str, str, str]]:
    if section == "packages":
        for entry in k["package"]:
            if kind in entry["kind"].split("+"):  # driver+toolkit rows belong to both tables
                yield (f"{entry['manager']}: {entry['distro']}", ", ".join(f"`{n}`" for n in entry["names"]),
                       entry["source"])
    elif section == "files":
        for entry in k["file"]:
            if entry["kind"] == kind:
                shown = [f"`{n}`" for n in entry.get("names", ())] + [f"path `{p}`" for p in entry.get("paths", ())]
                yield entry["what"], ", ".join(shown), entry["source"]
    else:
        for entry in k["base"]:
            if entry["kind"] == kind:
                tag = f" tag `{entry['tag']}`" if "tag" in entry else ""
                yield entry["what"], f"`{entry['repository']}`{tag}", entry["source"]
