"""Real NVIDIA and CUDA packages for the tests: fetched from Debian's registry and PyPI, cached.

Debian bookworm's own packages (non-free, non-free-firmware, contrib and main; driver 535.x and the
CUDA 11.8 toolkit) are fetched with `apt-get download` under a PRIVATE apt configuration written
into the cache (its own sources list, package lists and archives; the system's /etc/apt is never
read or changed), unpacked with `dpkg-deb -x` (symlinks stay symlinks), and their real file lists
(`dpkg-deb -c`) and control fields (`dpkg-deb -f`) are kept beside them. Packages too large to
download here (nvidia-cuda-dev is 774 MB) are known by their real file lists from Debian's
Contents index (the same `apt-get update`, with the Contents target), without their bytes: their
files become empty placeholders in the test images, which is all that path-based checks read.

A CUDA runtime wheel comes from PyPI (`pip download --no-deps`) and is unpacked as pip would lay
it out in `/usr/local/lib/python3.11/site-packages`.

`image_archive(name)` writes a docker-save archive (no Docker engine) whose filesystem is what
`apt-get install --no-install-recommends NAME` leaves behind of NVIDIA's packages: NAME's files and
those of its Depends closure among NVIDIA's source packages (libc6, dkms, gcc... are left out:
they are in every Debian base and say nothing about drivers). Maintainer scripts do not run, so
alternatives links created by postinst (`/usr/bin/nvidia-smi` -> `/etc/alternatives/...`) are
absent; the driver's own files are there.

Everything is cached under tests/.cache/realpkgs/ (git-ignored). Failures raise FetchError with
the command and its output; the test fixtures turn that into a skip, or a failure under CI=true.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from image_archives import Image, docker_save

ROOT = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("SM_LINT_REALPKGS_CACHE", ROOT / ".cache" / "realpkgs"))
MIRROR = os.environ.get("SM_LINT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
# Contents (file lists) only for the small components; main's index is large and our main
# package (egl-wayland) is downloaded anyway.
# Debian's archive key (package debian-archive-keyring; scripts/test.sh installs it where missing,
# e.g. on Ubuntu), so that the private configuration trusts nothing from the system's /etc/apt.
KEYRING = os.environ.get("SM_LINT_DEBIAN_KEYRING", "/usr/share/keyrings/debian-archive-keyring.gpg")
SOURCES = (f"deb [ signed-by={KEYRING} target-=Contents-deb ] {MIRROR} {SUITE} main\n"
           f"deb [ signed-by={KEYRING} ] {MIRROR} {SUITE} contrib non-free non-free-firmware\n")
REFRESH_DAYS = 7  # package lists older than this are fetched again (point releases replace versions)

# Debian source packages whose binaries matter for drivers and CUDA. The Depends closure of an
# install is followed only into binaries built from these.
NVIDIA_SOURCES = frozenset({
    "nvidia-graphics-drivers", "nvidia-graphics-drivers-tesla-535", "nvidia-graphics-drivers-tesla",
    "nvidia-graphics-drivers-tesla-470", "nvidia-cuda-toolkit", "nvidia-persistenced",
    "nvidia-modprobe", "nvidia-support", "egl-wayland", "nvidia-settings", "nvidia-xconfig",
})
# A .deb larger than this is not downloaded unless named in ALWAYS_DOWNLOAD: its Contents file
# list stands for it (empty placeholder files).
DOWNLOAD_LIMIT = 8 * 1024 * 1024
ALWAYS_DOWNLOAD = frozenset({"firmware-nvidia-gsp"})

PYPI_WHEELS = {
    # name -> pinned version (reruns reuse the cached wheel; bump deliberately)
    "nvidia-cuda-runtime-cu12": "12.4.127",
}
SITE_PACKAGES = "usr/local/lib/python3.11/site-packages"

IMAGE_CONFIG = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Entrypoint": ["python3", "/opt/program/process.py"],
    "WorkingDir": "/",
}


class FetchError(RuntimeError):
    """The registry, apt, dpkg-deb or pip failed; the message has the command and its output."""


def _run(cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
         timeout: int = 600) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0 or (cmd[-1:] == ["update"] and "\nW: Failed to fetch" in "\n" + proc.stderr):
        tail = (proc.stdout + proc.stderr).strip()[-2000:]
        status = f"exited {proc.returncode}" if proc.returncode else "could not fetch everything"
        raise FetchError(f"{' '.join(cmd)} {status}:\n{tail}")
    return proc.stdout


# -- private apt ---------------------------------------------------------------------------------

def apt_dir() -> Path:
    return CACHE / "apt"


def _apt_env() -> Dict[str, str]:
    """APT_CONFIG pointing at a configuration that names only cache paths."""
    base = apt_dir()
    for sub in ("lists/partial", "cache", "archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "sources.list").write_text(SOURCES)
    conf = base / "apt.conf"
    text = f"""\
Dir::Etc::SourceList "{base}/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
Dir::State::Lists "{base}/lists";
Dir::State::status "/dev/null";
Dir::Cache "{base}/cache";
Dir::Cache::Archives "{base}/archives";
Debug::NoLocking "1";
APT::Architecture "amd64";
APT::Architectures {{ "amd64"; }};
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb {{
  MetaKey "$(COMPONENT)/Contents-$(ARCHITECTURE)";
  ShortDescription "Contents-$(ARCHITECTURE)";
  Description "$(RELEASE)/$(COMPONENT) $(ARCHITECTURE) Contents (deb)";
  flatMetaKey "Contents-$(ARCHITECTURE)";
  flatDescription "$(RELEASE) Contents (deb)";
  PDiffs "false";
  KeepCompressed "true";
}};
"""
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    return dict(os.environ, APT_CONFIG=str(conf), LC_ALL="C")


def _apt_opts() -> List[str]:
    # As root apt drops to the _apt user for downloads, which may not write into the cache.
    return ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []


_updated = False
_refreshed = False


def apt_update(force: bool = False) -> None:
    """Fetch the bookworm package lists and Contents indexes into the cache (once per session,
    and only when the cache has none or old ones, or when `force`d)."""
    global _updated, _packages, _contents
    if _updated and not force:
        return
    _packages = _contents = None
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise FetchError("apt-get and dpkg-deb are needed (a Debian or Ubuntu machine)")
    if not Path(KEYRING).exists():
        raise FetchError(f"{KEYRING} is missing: install debian-archive-keyring (scripts/test.sh does as root)")
    env = _apt_env()
    lists = apt_dir() / "lists"
    have = sorted(lists.glob("*non-free_binary-amd64_Packages*")) + sorted(lists.glob("*non-free_Contents-amd64*"))
    fresh = len(have) == 2 and all(time.time() - p.stat().st_mtime < REFRESH_DAYS * 86400 for p in have)
    if not fresh or force:
        out = _run(["apt-get", *_apt_opts(), "-q", "update"], env=env)
        if not list(lists.glob("*non-free_binary-amd64_Packages*")) or "\nW: Failed to fetch" in "\n" + out:
            raise FetchError(f"apt-get update from {MIRROR} ({SUITE}) fetched no package list:\n{out[-2000:]}")
        for path in have:  # apt keeps an unchanged list's old mtime
            if path.exists():
                path.touch()
    _updated = True


_packages: Optional[Dict[str, Dict[str, str]]] = None


def _index() -> Dict[str, Dict[str, str]]:
    """Package name -> control fields of the newest version in the cached Packages lists."""
    global _packages
    if _packages is None:
        apt_update()
        text = _run(["apt-cache", *_apt_opts(), "dumpavail"], env=_apt_env())
        found: Dict[str, Dict[str, str]] = {}
        for stanza in text.split("\n\n"):
            fields = _fields(stanza)
            name = fields.get("Package")
            if not name or fields.get("Architecture") not in ("amd64", "all"):
                continue
            old = found.get(name)
            if old is None or _newer(fields["Version"], old["Version"]):
                found[name] = fields
        _packages = found
    return _packages


def _fields(stanza: str) -> Dict[str, str]:
    fields: Dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _newer(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0


def control(name: str) -> Dict[str, str]:
    try:
        return _index()[name]
    except KeyError:
        raise FetchError(f"{name} is not in Debian {SUITE} (main contrib non-free non-free-firmware)") from None


def source_of(name: str) -> str:
    return control(name).get("Source", name).split(" ")[0]


def depends(name: str) -> List[str]:
    """Pre-Depends and Depends of `name`, each alternative group resolved to its first real
    package (what apt picks on a plain system); virtual-only groups are left out."""
    fields = control(name)
    index = _index()
    chosen: List[str] = []
    for key in ("Pre-Depends", "Depends"):
        for group in filter(None, (g.strip() for g in fields.get(key, "").split(","))):
            for alternative in group.split("|"):
                dep = re.split(r"[\s(:]", alternative.strip(), maxsplit=1)[0]
                if dep in index:
                    chosen.append(dep)
                    break
    return chosen


def closure(name: str) -> List[str]:
    """`name` and, recursively, its dependencies built from NVIDIA_SOURCES, in install order."""
    seen: List[str] = []
    todo = [name]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.append(current)
        for dep in depends(current):
            if dep not in seen and source_of(dep) in NVIDIA_SOURCES:
                todo.append(dep)
    return seen


# -- Contents ------------------------------------------------------------------------------------

_contents: Optional[Dict[str, List[str]]] = None


def contents(name: str) -> List[str]:
    """The absolute paths `name` installs, per Debian's Contents index (files and symlinks, no
    directories)."""
    global _contents
    if _contents is None:
        apt_update()
        table: Dict[str, List[str]] = {}
        for index in sorted((apt_dir() / "lists").glob("*_Contents-*")):
            text = _run(["/usr/lib/apt/apt-helper", "cat-file", str(index)], env=_apt_env())
            for line in text.splitlines():
                path, _, owners = line.rpartition(" ")
                path = path.strip()
                if not path or path == "FILE":
                    continue
                for owner in owners.split(","):
                    table.setdefault(owner.rsplit("/", 1)[-1], []).append("/" + path)
        _contents = table
    return sorted(_contents.get(name, []))


# -- packages ------------------------------------------------------------------------------------

@dataclass
class Package:
    """One real package: where its files are, or (listed only) what they are."""
    name: str
    version: str
    ecosystem: str  # "debian" or "pypi"
    download_size: int  # bytes of the .deb or wheel
    downloaded: bool  # False: known from the Contents index only
    root: Optional[Path]  # unpacked tree (downloaded only)
    entries: List[Tuple[str, str, int, str]] = field(default_factory=list)  # (path, kind, size, link)
    depends: List[str] = field(default_factory=list)
    origin: str = ""  # registry file name / URL

    @property
    def paths(self) -> List[str]:
        """Absolute paths of the non-directory entries."""
        return [p for p, kind, _, _ in self.entries if kind != "dir"]


def _entries_of_deb(deb: Path) -> List[Tuple[str, str, int, str]]:
    """(path, kind, size, link) of a .deb's data, from `dpkg-deb -c` (the real file list)."""
    out: List[Tuple[str, str, int, str]] = []
    for line in _run(["dpkg-deb", "-c", str(deb)]).splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        mode, _, size, _, _, rest = parts
        link = ""
        if " -> " in rest:
            rest, link = rest.split(" -> ", 1)
        elif " link to " in rest:
            rest, link = rest.split(" link to ", 1)
        path = "/" + rest.lstrip("./").rstrip("/") if rest not in ("./", ".") else "/"
        kind = {"d": "dir", "l": "symlink", "h": "hardlink"}.get(mode[0], "file")
        if " link to " in line:
            kind = "hardlink"
        if path != "/":
            out.append((path, kind, int(size), link))
    return out


def debian(name: str) -> Package:
    """The package `name` from Debian bookworm: downloaded and unpacked when small enough (or in
    ALWAYS_DOWNLOAD), else described by its Contents file list."""
    fields = control(name)
    version, size = fields["Version"], int(fields.get("Size", "0"))
    if size > DOWNLOAD_LIMIT and name not in ALWAYS_DOWNLOAD:
        entries = [(p, "file", 0, "") for p in contents(name)]
        return Package(name, version, "debian", size, False, None, entries, depends(name),
                       fields.get("Filename", ""))
    safe = f"{name}_{version}".replace(":", "%3a").replace("~", "_")
    base = CACHE / "debian" / safe
    meta = base / "meta.json"
    if not meta.exists():
        env = _apt_env()
        debs = CACHE / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        pattern = f"{name}_*.deb"
        for old in debs.glob(pattern):
            if _deb_field(old, "Version") != version:
                old.unlink()
        found = [d for d in debs.glob(pattern) if _deb_field(d, "Package") == name]
        if not found:
            try:
                _run(["apt-get", *_apt_opts(), "-q", "download", f"{name}={version}"], cwd=debs, env=env)
            except FetchError:
                # The cached lists may name a version a point release has since removed: refresh them
                # (once per session) and fetch the current one.
                global _refreshed
                if _refreshed:
                    raise
                _refreshed = True
                apt_update(force=True)
                return debian(name)
            found = [d for d in debs.glob(pattern) if _deb_field(d, "Package") == name]
        if not found:
            raise FetchError(f"apt-get download {name} left no .deb in {debs}")
        deb = found[0]
        if base.exists():
            shutil.rmtree(base)
        tmp = base.with_name(base.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        (tmp / "root").mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(tmp / "root")])
        (tmp / "files.txt").write_text(_run(["dpkg-deb", "-c", str(deb)]))
        (tmp / "control.txt").write_text(_run(["dpkg-deb", "-f", str(deb)]))
        (tmp / "meta.json").write_text(json.dumps({
            "name": name, "version": version, "size": deb.stat().st_size, "filename": fields.get("Filename", ""),
            "entries": _entries_of_deb(deb), "depends": _deb_field(deb, "Depends"),
            "pre_depends": _deb_field(deb, "Pre-Depends"),
        }, indent=1))
        tmp.rename(base)
    data = json.loads(meta.read_text())
    return Package(name, version, "debian", data["size"], True, base / "root",
                   [tuple(e) for e in data["entries"]], depends(name), data["filename"])  # type: ignore[misc]


def _deb_field(deb: Path, key: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), key]).strip()


def pypi(name: str) -> Package:
    """The wheel `name` (pinned in PYPI_WHEELS), unpacked under SITE_PACKAGES."""
    version = PYPI_WHEELS[name]
    base = CACHE / "pypi" / f"{name}-{version}"
    meta = base / "meta.json"
    if not meta.exists():
        wheels = CACHE / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        stem = name.replace("-", "_")
        found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        if not found:
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                  "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                  "--disable-pip-version-check", "-d", str(wheels), f"{name}=={version}"])
            found = sorted(wheels.glob(f"{stem}-{version}-*.whl"))
        if not found:
            raise FetchError(f"pip download {name}=={version} left no wheel in {wheels}")
        if base.exists():
            shutil.rmtree(base)
        tmp = base.with_name(base.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        site = tmp / "root" / SITE_PACKAGES
        site.mkdir(parents=True)
        entries = []
        with zipfile.ZipFile(found[0]) as wheel:
            wheel.extractall(site)
            for info in wheel.infolist():
                if not info.is_dir():
                    entries.append(("/" + SITE_PACKAGES + "/" + info.filename, "file", info.file_size, ""))
        (tmp / "meta.json").write_text(json.dumps({
            "name": name, "version": version, "size": found[0].stat().st_size, "filename": found[0].name,
            "entries": entries}, indent=1))
        tmp.rename(base)
    data = json.loads(meta.read_text())
    return Package(name, version, "pypi", data["size"], True, base / "root",
                   [tuple(e) for e in data["entries"]], [], data["filename"])  # type: ignore[misc]


def package(name: str, ecosystem: str = "debian") -> Package:
    return pypi(name) if ecosystem == "pypi" else debian(name)


# -- images --------------------------------------------------------------------------------------

def _tree_entries(root: Path) -> Iterable[Tuple[tarfile.TarInfo, bytes]]:
    """Layer entries for everything under `root`: real bytes, modes and symlinks."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        if rel_dir != ".":
            info = tarfile.TarInfo(rel_dir)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            yield info, b""
        for child in sorted(filenames + [d for d in dirnames if (here / d).is_symlink()]):
            path = here / child
            rel = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(rel)
            if path.is_symlink():
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
                yield info, b""
            else:
                data = path.read_bytes()
                info.size, info.mode = len(data), path.stat().st_mode & 0o7777
                yield info, data


def rootfs_entries(packages: Sequence[Package]) -> List[Tuple[tarfile.TarInfo, bytes]]:
    """One layer's entries: downloaded packages' real trees, listed ones as empty placeholders."""
    entries: Dict[str, Tuple[tarfile.TarInfo, bytes]] = {}
    for pkg in packages:
        if pkg.root is not None:
            for info, data in _tree_entries(pkg.root):
                entries.setdefault(info.name, (info, data))
        else:
            for path in pkg.paths:
                rel = path.lstrip("/")
                parts = rel.split("/")
                for i in range(1, len(parts)):
                    parent = "/".join(parts[:i])
                    if parent not in entries:
                        info = tarfile.TarInfo(parent)
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        entries[parent] = (info, b"")
                info = tarfile.TarInfo(rel)
                info.mode = 0o644
                entries.setdefault(rel, (info, b""))
    return [entries[k] for k in sorted(entries)]


def install_set(name: str, ecosystem: str = "debian") -> List[Package]:
    """What installing `name` brings of NVIDIA's packages (the package and its Depends closure)."""
    if ecosystem == "pypi":
        return [pypi(name)]
    return [debian(n) for n in closure(name)]


def image_archive(name: str, ecosystem: str = "debian") -> Path:
    """A docker-save archive (cached) whose one layer is `install_set(name)`'s files."""
    packages = install_set(name, ecosystem)
    key = "+".join(f"{p.name}_{p.version}" for p in packages)
    stamp = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{name}_{packages[0].version}")
    target = CACHE / "images" / f"{stamp}.tar"
    keyfile = target.with_suffix(".key")
    if target.exists() and keyfile.exists() and keyfile.read_text() == key:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Neutral history: the verdict must come from the files, not from a package name in created_by.
    image = Image(layers=[rootfs_entries(packages)], config=IMAGE_CONFIG,
                  history=["ADD rootfs.tar / # buildkit"], tag=f"realpkgs/{name}:{packages[0].version}")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(docker_save(image))
    tmp.rename(target)
    keyfile.write_text(key)
    return target


def dockerfile(name: str, ecosystem: str = "debian") -> str:
    """The Dockerfile a user writes to install `name` on Debian bookworm."""
    if ecosystem == "pypi":
        install = f"RUN pip install --no-cache-dir {name}"
        base = "python:3.11-slim-bookworm"
    else:
        install = (f"RUN apt-get update && apt-get install -y --no-install-recommends {name} "
                   "&& rm -rf /var/lib/apt/lists/*")
        base = "debian:bookworm-slim"
    return (f"FROM {base}\n{install}\nCOPY process.py /opt/program/\n"
            'ENTRYPOINT ["python3", "/opt/program/process.py"]\n')


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Source packages of the driver whose paths tests/data/debian-nvidia-files.txt lists.
LISTED_SOURCES = ("nvidia-graphics-drivers", "nvidia-graphics-drivers-tesla-535", "nvidia-graphics-drivers-tesla",
                  "nvidia-graphics-drivers-tesla-470", "nvidia-persistenced")
PROGRAM_DIRS = frozenset({"bin", "sbin", "lib", "lib64", "libexec"})


def in_program_dir(path: str) -> bool:
    """A path in a bin/sbin/lib folder (firmware under /lib included), not under /usr/share."""
    parts = path.strip("/").split("/")[:-1]
    return not path.startswith("/usr/share/") and any(p in PROGRAM_DIRS for p in parts)


def driver_file_listing() -> str:
    """package<TAB>path for every binary package of LISTED_SOURCES in bookworm, the paths in
    bin/sbin/lib folders (firmware included), from Debian's Contents index."""
    rows = []
    for name in sorted(_index()):
        if source_of(name) in LISTED_SOURCES:
            rows += [f"{name}\t{path}" for path in contents(name) if in_program_dir(path)]
    header = ("# Debian bookworm (contrib non-free non-free-firmware, amd64): the bin/sbin/lib paths (files and\n"
              f"# symlinks) of the binary packages built from {', '.join(LISTED_SOURCES)},\n"
              "# from the registry's Contents index. package<TAB>path. Source material for the knowledge base;\n"
              "# regenerate with: python tests/realpkgs.py --file-list > tests/data/debian-nvidia-files.txt\n")
    return header + "\n".join(rows) + "\n"


if __name__ == "__main__":  # python tests/realpkgs.py NAME...: fetch and print what they hold
    if sys.argv[1:] == ["--file-list"]:
        sys.stdout.write(driver_file_listing())
        sys.exit(0)
    for arg in sys.argv[1:] or ["libcuda1"]:
        eco = "pypi" if arg in PYPI_WHEELS else "debian"
        for pkg in install_set(arg, eco):
            print(f"{pkg.name} {pkg.version} {pkg.download_size} {'downloaded' if pkg.downloaded else 'listed'}")
            for path in pkg.paths:
                print("   ", path)
