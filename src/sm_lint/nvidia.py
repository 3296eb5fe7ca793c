"""What is an NVIDIA driver, what is the CUDA toolkit, and what is neither: the tables of
`data/nvidia.toml`, read once and shared by the Dockerfile layer, the image layer and the rule pages.

The knowledge lives in the data file (each entry with its source); this module only compiles it and
answers questions: what kind a package is, what kind a file in an image is, what a base image carries.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Pattern, Tuple

DATA = Path(__file__).with_name("data") / "nvidia.toml"
KINDS = ("neither", "driver+toolkit", "driver", "toolkit", "gpu")  # precedence when several entries match
MANAGER_GROUPS = {
    "system": ("apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "microdnf", "tdnf", "rpm", "zypper", "apk"),
    "conda": ("conda", "mamba", "micromamba"),
    "pip": ("pip",),
}
_GROUP_OF = {manager: group for group, managers in MANAGER_GROUPS.items() for manager in managers}
# What a variable the Dockerfile does not set, or a glob, may stand for when matching names: a
# driver branch, a CUDA X-Y, an installer's arch-version, nothing.
_UNKNOWN = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\*|\?|\[[^\]]*\]")
_STAND_INS = ("535", "12-2", "x86_64-535.104.05", "", "535-server")
_RPM_FILE = re.compile(r"^(.+?)-\d[^-]*-[^-]+?(?:\.[a-z0-9_]+)?$")


class Knowledge(NamedTuple):
    packages: Dict[str, List[Tuple[str, Pattern[str]]]]  # group -> [(kind, one regex of all names)] by precedence
    entries: Tuple[dict, ...]  # the raw [[package]], [[file]], [[base]] tables, for the rule pages
    files: Tuple[dict, ...]
    bases: Tuple[Tuple[str, Pattern[str], Optional[Pattern[str]]], ...]
    base_entries: Tuple[dict, ...]
    driver_names: Pattern[str]  # basenames of driver libraries, modules, installers
    driver_binaries: Pattern[str]  # basenames of driver programs (only in bin/sbin/lib folders)
    driver_paths: Pattern[str]
    excluded: Pattern[str]
    binary_folder: Pattern[str]
    toolkit_names: Pattern[str]
    toolkit_paths: Pattern[str]
    compat_paths: Pattern[str]
    installer: Pattern[str]
    cuda_runfile: Pattern[str]
    torch: dict


def _alternation(patterns: List[str], whole: bool = True) -> Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")
    body = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(f"^(?:{body})$" if whole else body, re.I if whole else 0)


@lru_cache(maxsize=1)
def knowledge() -> Knowledge:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    data = tomllib.loads(DATA.read_text(encoding="utf-8"))
    packages: Dict[str, List[Tuple[str, Pattern[str]]]] = {}
    for group in MANAGER_GROUPS:
        rows = [entry for entry in data["package"] if entry["manager"] == group]
        packages[group] = [(kind, _alternation([n for e in rows if e["kind"] == kind for n in e["names"]]))
                           for kind in KINDS]

    def file_patterns(kind: str, key: str, classes: Tuple[str, ...] = ()) -> List[str]:
        return [p for e in data["file"] if e["kind"] == kind and (not classes or e["class"] in classes)
                for p in e.get(key, ())]

    exclusions = data["file_exclusions"]
    bases = tuple((b["kind"], _alternation([b["repository"]]), _alternation([b["tag"]]) if "tag" in b else None)
                  for b in data["base"])
    return Knowledge(
        packages=packages,
        entries=tuple(data["package"]),
        files=tuple(data["file"]),
        bases=bases,
        base_entries=tuple(data["base"]),
        driver_names=_alternation(file_patterns("driver", "names", ("library", "kernel", "installer"))),
        driver_binaries=_alternation(file_patterns("driver", "names", ("binary",))),
        driver_paths=_alternation(file_patterns("driver", "paths")),
        excluded=_alternation(exclusions["paths"], whole=False),
        binary_folder=re.compile(exclusions["binary_folders"]),
        toolkit_names=re.compile(_alternation(file_patterns("toolkit", "names")).pattern),  # case matters: libcublasLt
        toolkit_paths=re.compile(_alternation(file_patterns("toolkit", "paths"), whole=False).pattern),
        compat_paths=_alternation(file_patterns("compat", "paths"), whole=False),
        installer=_alternation([data["installers"]["driver"]]),
        cuda_runfile=_alternation([data["installers"]["cuda_runfile"]]),
        torch=data["pytorch"],
    )


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


def package_kind(word: str, manager: str) -> Optional[PackageKind]:
    """What installing `word` with `manager` brings: a name, a `name=version`, a package file
    (`./x_1.0_amd64.deb`, `x-1.0-1.el8.x86_64.rpm`), possibly with globs or unset variables."""
    group = _GROUP_OF.get(manager)
    if group is None:
        return None
    names = _candidate_names(word, group)
    for kind, pattern in knowledge().packages[group]:
        for name in names:
            if pattern.match(name):
                return PackageKind(kind, name, False)
    if not _UNKNOWN.search(word):
        return None
    for kind, pattern in knowledge().packages[group]:
        for name in names:
            for stand_in in _STAND_INS:
                filled = _UNKNOWN.sub(stand_in, name)
                if filled and pattern.match(filled):
                    return PackageKind(kind, name, True)
    return None


def _candidate_names(word: str, group: str) -> List[str]:
    if group != "system":
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
    return [name, name.split(":", 1)[0]] if ":" in name else [name]


def is_driver_package(name: str, manager: str = "apt") -> bool:
    found = package_kind(name, manager)
    return found is not None and found.driver


def is_toolkit_package(name: str, manager: str = "apt") -> bool:
    found = package_kind(name, manager)
    return found is not None and found.toolkit


def is_torch(name: str) -> bool:
    return name in knowledge().torch["packages"]


def is_torch_cuda(spec: str, index: Optional[str]) -> bool:
    """A CUDA build of torch: `torch==2.1.0+cu121`, or installed from a cuXXX wheel index."""
    pattern = knowledge().torch["cuda_build"]
    return bool(re.search(pattern, spec) or (index and re.search(pattern, index)))


def is_torch_cpu(spec: str, index: Optional[str]) -> bool:
    pattern = knowledge().torch["cpu_index"]
    return bool(re.search(pattern, spec) or (index and re.search(pattern, index)))


def is_driver_installer(word: str) -> bool:
    return _matches_filled(knowledge().installer, word.rsplit("/", 1)[-1])


def is_cuda_runfile(word: str) -> bool:
    return _matches_filled(knowledge().cuda_runfile, word.rsplit("/", 1)[-1])


def _matches_filled(pattern: Pattern[str], name: str) -> bool:
    if pattern.match(name):
        return True
    return bool(_UNKNOWN.search(name)) and any(pattern.match(_UNKNOWN.sub(s, name)) for s in ("535.104.05", "x86_64"))


# --------------------------------------------------------------------------------------------------
# Files in an image


def driver_file_class(path: str) -> Optional[str]:
    """binary, library, firmware, kernel or installer when `path` is a driver file; else None."""
    k = knowledge()
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


def is_driver_file(path: str) -> bool:
    """A driver binary, library, firmware file, kernel module (or its sources) or installer; not the
    forward-compatibility copy, a link stub, documentation or shared data."""
    return driver_file_class(path) is not None


def is_compat_file(path: str) -> bool:
    return bool(knowledge().compat_paths.search(path))


def is_toolkit_file(path: str) -> bool:
    """The CUDA runtime or a CUDA library (not a stub, not the compat copy of the driver)."""
    k = knowledge()
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
        for kind, repository, tag_pattern in knowledge().bases:
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


def _coverage_rows(k: Knowledge, section: str, kind: str) -> Iterator[Tuple[str, str, str]]:
    if section == "packages":
        for entry in k.entries:
            if kind in entry["kind"].split("+"):  # driver+toolkit rows belong to both tables
                yield (f"{entry['manager']}: {entry['distro']}", ", ".join(f"`{n}`" for n in entry["names"]),
                       entry["source"])
    elif section == "files":
        for entry in k.files:
            if entry["kind"] == kind:
                shown = [f"`{n}`" for n in entry.get("names", ())] + [f"path `{p}`" for p in entry.get("paths", ())]
                yield entry["what"], ", ".join(shown), entry["source"]
    else:
        for entry in k.base_entries:
            if entry["kind"] == kind:
                tag = f" tag `{entry['tag']}`" if "tag" in entry else ""
                yield entry["what"], f"`{entry['repository']}`{tag}", entry["source"]
