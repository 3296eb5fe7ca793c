"""Layer listings and the whiteout merge.

A layer is read once, as a stream, into a compact listing: path, kind, size and link of every
member, plus the whiteouts it carries. Nothing else of the layer is kept. Listings are merged
into the final filesystem view only once the layer order is known (a `docker save` stream
names it at its very end).
"""
from __future__ import annotations

import posixpath
from array import array
from itertools import repeat
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from sm_lint.image.model import FileEntry
from sm_lint.image.tarstream import (
    AREGULAR, MAGIC_BYTES, Bytes, FormatError, HashPool, TarParser, compression_of, decoder, new_hash, show,
)

KINDS = ("file", "dir", "symlink", "hardlink", "other")
FILE, DIR, SYMLINK, HARDLINK, OTHER = range(5)
# typeflag -> kind code; unknown typeflags are "other" (POSIX says read them as files)
_KIND_OF = bytes(
    FILE if flag in b"07S\0" else DIR if flag in b"5" else SYMLINK if flag in b"2" else HARDLINK if flag in b"1"
    else OTHER for flag in range(256))
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_LONG_PATH_HINT = ("//", "/.")  # only names with these need the slow normalisation


class Budget:
    """Limits shared by every layer of one archive: paths listed and decompression output."""

    def __init__(self, max_paths: int, max_layer_bytes: int, max_ratio: int, slack: int = 1 << 30) -> None:
        self.paths_left = max_paths
        self.max_paths = max_paths
        self.max_layer_bytes = max_layer_bytes
        self.max_ratio = max_ratio
        self.slack = slack
        self.read = 0  # compressed bytes that came in
        self.inflated = 0  # bytes decompressors produced

    def take_inflated(self, count: int) -> None:
        self.inflated += count
        if self.max_ratio and self.inflated > self.max_ratio * self.read + self.slack:
            raise FormatError(
                f"decompresses to more than {self.max_ratio} times its size ({self.inflated} bytes from {self.read}):"
                " a decompression bomb? (raise SM_LINT_MAX_RATIO if it is not)")


class LayerListing:
    """What one pass over a layer keeps: parallel arrays, about 70 bytes per path plus the path."""

    __slots__ = ("paths", "kinds", "sizes", "links", "whiteouts", "opaques",
                 "compression", "blob_size", "raw_hash", "diff_hash", "uncompressed", "captured", "modes")

    def __init__(self) -> None:
        self.paths: List[str] = []
        self.kinds = bytearray()
        self.sizes = array("q")
        self.links: Dict[int, str] = {}  # index -> link target, for the few links
        self.whiteouts: List[str] = []  # paths deleted from lower layers (with their subtrees)
        self.opaques: List[str] = []  # directories whose lower contents are hidden
        self.compression = "none"
        self.blob_size = 0  # bytes as stored
        self.uncompressed = 0
        self.raw_hash: Any = None
        self.diff_hash: Any = None
        # path -> what _Capture kept of a few files: a script's text ("text", str) or which shell
        # an executable named like one is ("shell", "busybox"); see capture_wanted
        self.captured: Dict[str, Tuple[str, str]] = {}
        # path -> permission bits, for the few files whose mode a check reads (MODE_WANTED)
        self.modes: Dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def digest(self) -> str:
        """The blob's digest ("sha256:..."); only valid after the HashPool drained."""
        return f"{self.raw_hash.name}:{self.raw_hash.hexdigest()}"

    def diff_id(self) -> str:
        """sha256 of the uncompressed tar, which the config's rootfs.diff_ids name."""
        return f"sha256:{(self.diff_hash or self.raw_hash).hexdigest()}"


def normalise(name: str) -> Optional[str]:
    """A member name as an absolute POSIX path; None for the root itself.

    Like Docker's unpacker (filepath.Clean, then join under the root): an absolute name, even
    "/../x", stays inside the root; a relative name that climbs out of it is refused.
    """
    if name.startswith("./"):
        name = name[2:]
    path = "/" + name.strip("/")
    if "//" not in path and "/." not in path:
        return path if len(path) > 1 else None
    if name.startswith("/"):
        clean = posixpath.normpath(name)
    else:
        clean = posixpath.normpath(name)
        if clean == ".." or clean.startswith("../"):
            raise FormatError(f"member {show(name)!r} climbs out of the image root (Docker refuses such a layer)")
    clean = "/" + clean.lstrip("/")
    return None if clean in ("/", "/.") else clean


class LayerSink:
    """Receives a layer blob's bytes: hashes them, decompresses by magic, lists the tar."""

    def __init__(self, what: str, pool: HashPool, budget: Budget, algorithm: str = "sha256",
                 max_meta: int = 1 << 20) -> None:
        self.what = what
        self.listing = LayerListing()
        self.listing.raw_hash = new_hash(algorithm)
        self._algorithm = algorithm
        self._pool = pool
        self._budget = budget
        self._head = bytearray()
        self._decoder: Any = None
        self._decided = False
        self._tar = TarParser(self._entry, max_meta, what)
        self._counted = 0  # paths already charged to the budget

    # -- bytes in ------------------------------------------------------------------------
    def write(self, data: Bytes) -> None:
        listing = self.listing
        self._pool.update(listing.raw_hash, data)
        listing.blob_size += len(data)
        if self._decided:
            self._pass(data)
            return
        self._head += data
        if len(self._head) >= MAGIC_BYTES:
            self._decide()

    def close(self) -> LayerListing:
        if not self._decided:
            self._decide()
        if self._decoder is not None:
            self._decoder.close()
        self._tar.close()
        return self.listing

    def _decide(self) -> None:
        head, self._head = bytes(self._head), bytearray()
        self._decided = True
        kind = compression_of(head)
        self.listing.compression = kind
        self._decoder = decoder(kind, self._inflated)
        if self._decoder is not None:
            self.listing.diff_hash = new_hash("sha256")
        elif self._algorithm != "sha256":
            self.listing.diff_hash = new_hash("sha256")
        if head:
            self._pass(head)

    def _pass(self, data: Bytes) -> None:
        if self._decoder is None:
            if self.listing.diff_hash is not None:
                self._pool.update(self.listing.diff_hash, data)
            self._plain(data)
        else:
            self._decoder.write(data)

    def _inflated(self, chunk: bytes) -> None:
        self._budget.take_inflated(len(chunk))
        self._pool.update(self.listing.diff_hash, chunk)
        self._plain(chunk)

    def _plain(self, data: Bytes) -> None:
        listing = self.listing
        listing.uncompressed += len(data)
        budget = self._budget
        if listing.uncompressed > budget.max_layer_bytes:
            raise FormatError(
                f"{self.what} inflates past {budget.max_layer_bytes} bytes: a decompression bomb?"
                " (raise SM_LINT_MAX_LAYER_BYTES if it is not)")
        self._tar.feed(data)
        # counted per chunk, not per member: a chunk adds at most a few thousand paths
        budget.paths_left -= len(listing.paths) - self._counted
        self._counted = len(listing.paths)
        if budget.paths_left < 0:
            raise FormatError(f"more than {budget.max_paths} paths in all layers (raise SM_LINT_MAX_PATHS)")

    # -- members -------------------------------------------------------------------------
    def _entry(self, name: str, typeflag: int, size: int, link: str) -> None:
        path = "/" + (name[2:] if name.startswith("./") else name).strip("/")
        if "/." in path or "//" in path:  # rare: dot files, whiteouts, "..", odd slashes
            normal = normalise(name)
            if normal is None or self._special(normal):
                return None
            path = normal
        elif len(path) == 1:
            return None  # the root itself
        kind = _KIND_OF[typeflag]
        if typeflag == AREGULAR and name.endswith("/"):
            kind = DIR  # old tars mark directories by the trailing slash only (as Go reads them)
        listing = self.listing
        if link:
            listing.links[len(listing.paths)] = link
        listing.paths.append(path)
        listing.kinds.append(kind)
        listing.sizes.append(size if kind == FILE else 0)
        if kind == FILE and path.endswith(MODE_WANTED):
            listing.modes[path] = self._tar.member_mode()
        if kind == FILE and size <= _SHELL_BINARY_MAX:
            want = capture_wanted(path, size)
            if want:
                return _Capture(listing.captured, path, want)
        return None

    def _special(self, path: str) -> bool:
        """Record a whiteout; True for members that are not part of the view."""
        if "/.wh." not in path:
            return False
        cut = path.rfind("/")
        if path.startswith(_WHITEOUT, cut + 1):
            self._whiteout(path, cut)
            return True
        return "/.wh..wh." in path  # inside AUFS's hardlink directory (.wh..wh.plnk)

    def _whiteout(self, path: str, cut: int) -> None:
        parent, base = path[:cut], path[cut + 1:]
        if base == _OPAQUE:
            self.listing.opaques.append(parent)  # "" for the root: hides every lower layer
        elif base.startswith(_OPAQUE[:8]):
            return  # other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the view
        else:
            target = base[len(_WHITEOUT):]
            if target in ("", ".", ".."):
                raise FormatError(f"{self.what}: invalid whiteout {show(path)!r}")
            self.listing.whiteouts.append(f"{parent}/{target}")


# Files whose permission bits are kept: the programs SageMaker training and hosting run from PATH
# (SM206: Docker passes over a file without an execute bit).
MODE_WANTED = ("/train", "/serve")
_SCRIPT_MAX = 64 << 10  # an entrypoint script is small; larger files are not read
_SHELL_BINARY_MAX = 8 << 20
_SHELL_NAMES = frozenset(("sh", "bash", "dash", "ash", "busybox"))
_SCRIPT_DIRS = ("/usr/local/bin/", "/usr/local/sbin/", "/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/opt/",
                "/app/", "/srv/", "/home/", "/root/", "/workspace/", "/code/", "/usr/src/", "/docker-entrypoint.d/")


def capture_wanted(path: str, size: int) -> str:
    """What to keep of a regular file while its layer streams past: "shell" for executables named
    like a shell in a bin folder (which shell /bin/sh is), "text" for small files that may be an
    entrypoint script (kept only when they are one: `#!` or `.sh`); "" for everything else.
    Scripts are few, so this keeps the memory per path, not per byte."""
    cut = path.rfind("/")
    name = path[cut + 1:]
    if name in _SHELL_NAMES and path[:cut].endswith("bin"):
        return "shell"
    if size > _SCRIPT_MAX:
        return ""
    if name.endswith((".sh", ".bash")) or cut == 0:
        return "text"
    if "." not in name and path.startswith(_SCRIPT_DIRS) and "/lib/" not in path and "/share/" not in path:
        return "text"
    return ""


class _Capture:
    """A member's data: kept as text when it is a script, or reduced to which shell it is."""

    __slots__ = ("into", "path", "want", "data")

    def __init__(self, into: Dict[str, Tuple[str, str]], path: str, want: str) -> None:
        self.into, self.path, self.want = into, path, want
        self.data = bytearray()

    def write(self, data: Bytes) -> None:
        self.data += data

    def close(self) -> None:
        data = bytes(self.data)
        self.data = bytearray()
        if self.want == "shell":
            from sm_lint.pid1 import identify_binary

            name = identify_binary(data)
            if name:
                self.into[self.path] = ("shell", name)
            elif data[:2] == b"#!":
                self.into[self.path] = ("text", data.decode("utf-8", "replace"))
        elif data[:2] == b"#!" or self.path.endswith((".sh", ".bash")):
            if b"\0" not in data[:1024]:
                self.into[self.path] = ("text", data.decode("utf-8", "replace"))


def captured(layers: Sequence[LayerListing], files: Dict[str, FileEntry]) -> Dict[str, Tuple[str, str]]:
    """What was captured of the files in the final view (the version of the layer that won)."""
    kept: Dict[str, Tuple[str, str]] = {}
    for index, layer in enumerate(layers):
        for path, value in layer.captured.items():
            entry = files.get(path)
            if entry is not None and entry.layer == index and entry.kind == "file":
                kept[path] = value
    return kept


def modes(layers: Sequence[LayerListing], files: Dict[str, FileEntry]) -> Dict[str, int]:
    """The kept permission bits of the files in the final view (the version of the layer that won)."""
    kept: Dict[str, int] = {}
    for index, layer in enumerate(layers):
        for path, mode in layer.modes.items():
            entry = files.get(path)
            if entry is not None and entry.layer == index and entry.kind == "file":
                kept[path] = mode
    return kept


def merge(layers: Sequence[LayerListing]) -> Dict[str, FileEntry]:
    """The final filesystem: layers applied bottom to top, whiteouts and all.

    Walks the layers top-down, so each path is decided once by the topmost layer that has it,
    and a lower layer's path is dropped when an upper layer hides it: a whiteout of it or of an
    ancestor, an opaque ancestor, or an upper non-directory at an ancestor (Docker's unpacker
    removes a directory that a file, link or device replaces, so its old contents are gone even
    if a still higher layer makes it a directory again). Directories a layer implies without
    listing them (tars need not list parents) count as directories of that layer.
    """
    files: Dict[str, FileEntry] = {}
    gone: Set[str] = set()  # whited out: the path and everything below it
    cut: Set[str] = set()  # everything strictly below is hidden (opaque dir, replaced dir)
    make = FileEntry._make
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        hidden = _HiddenBelow(files, gone, cut, index)
        if not (files or gone or cut):  # the top layer: nothing above can hide or shadow it
            _add_all(files, layer, index)
            implied = list({path[:path.rfind("/")] for path in layer.paths})
            implied.extend(w[:w.rfind("/")] for w in layer.whiteouts)
            implied.extend(layer.opaques)
            _add_implied(files, implied, gone, hidden, index)
            gone.update(layer.whiteouts)
            cut.update(layer.opaques)
            continue
        kinds, sizes, links = layer.kinds, layer.sizes, layer.links
        replaced: List[str] = []
        parents: List[str] = []
        last = None
        for i, path in enumerate(layer.paths):
            parent = path[:path.rfind("/")]
            if parent != last:
                parents.append(parent)
                last = parent
            upper = files.get(path)
            if upper is not None and upper.layer > index:
                if kinds[i] != DIR:
                    replaced.append(path)
                continue
            if path in gone or hidden(parent):
                continue
            files[path] = make((path, KINDS[kinds[i]], sizes[i], index, links.get(i, "")))
        parents.extend(w[:w.rfind("/")] for w in layer.whiteouts)
        parents.extend(layer.opaques)
        _add_implied(files, parents, gone, hidden, index)
        gone.update(layer.whiteouts)
        cut.update(layer.opaques)
        cut.update(replaced)
    return files


def _add_all(files: Dict[str, FileEntry], layer: LayerListing, index: int) -> None:
    """Every path of a layer, in bulk (the later of two equal paths wins, as in extraction)."""
    links = [""] * len(layer.paths)
    for position, target in layer.links.items():
        links[position] = target
    kinds = [KINDS[kind] for kind in layer.kinds]
    make = FileEntry._make
    files.update(zip(layer.paths, map(make, zip(layer.paths, kinds, layer.sizes, repeat(index), links))))


def _add_implied(files: Dict[str, FileEntry], parents: List[str], gone: Set[str], hidden: "_HiddenBelow",
                 index: int) -> None:
    for directory in parents:
        while directory and directory not in files:
            if directory in gone or hidden(directory[:directory.rfind("/")]):
                break
            files[directory] = FileEntry(directory, "dir", 0, index)
            directory = directory[:directory.rfind("/")]


class _HiddenBelow:
    """Whether everything below a directory is hidden from one layer, memoised per directory:
    members of a layer come grouped by directory, so this costs a lookup per member."""

    def __init__(self, files: Dict[str, FileEntry], gone: Set[str], cut: Set[str], index: int) -> None:
        self._files, self._gone, self._cut, self._index = files, gone, cut, index
        self._memo: Dict[str, bool] = {"": "" in cut}
        self._any = bool(gone or cut or files)  # the top layer hides nothing of its own

    def __call__(self, directory: str) -> bool:
        if not self._any:
            return False
        memo = self._memo
        known = memo.get(directory)
        if known is not None:
            return known
        chain = []  # walk up until a known answer, iteratively (paths can be very deep)
        while known is None:
            chain.append(directory)
            directory = directory[:directory.rfind("/")]
            known = memo.get(directory)
        for directory in reversed(chain):
            if not known:
                upper = self._files.get(directory)
                known = (directory in self._gone or directory in self._cut
                         or (upper is not None and upper.layer > self._index and upper.kind != "dir"))
            memo[directory] = known
        return known
