"""Moving data in and out of containers through the engine's archive API (`put_archive` before
start, `get_archive` after exit) rather than bind mounts, so that a remote engine (DOCKER_HOST=tcp://
or ssh://) works the same as the local socket.

Archives are built in a spooled temporary file (memory up to a few MiB, then disk, removed on
close) and read back as a stream: nothing is extracted on the host except collected outputs, and
those only inside the output folder (absolute names, `..` and links that lead out are refused).
"""
from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Dict, Iterable, Iterator, List, Optional, Tuple

from sm_lint.errors import UsageError

SPOOL_BYTES = 8 << 20
# Output folders and /opt/ml/output are writable by any user: SageMaker does not say which user
# the container runs as, and a non-root USER must be able to write its outputs and exit message.
WRITABLE_DIR = 0o777
MESSAGE_READ_LIMIT = 64 << 10  # the platform keeps 1 KB; read enough to judge the encoding


class ArchiveBuilder:
    """A tar for `put_archive(container, "/", ...)`: parents first, each directory once."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.tar = tarfile.open(fileobj=self.file, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs: Dict[str, int] = {}

    def directory(self, path: str, mode: int = 0o755) -> None:
        parts = [part for part in path.strip("/").split("/") if part]
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            wanted = mode if depth == len(parts) else 0o755
            if name in self.dirs:
                continue
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, wanted, 0
            self.tar.addfile(info)
            self.dirs[name] = wanted

    def file_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.directory(posixpath.dirname(path))
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode, info.mtime = len(data), mode, 0
        self.tar.addfile(info, io.BytesIO(data))

    def tree(self, local_dir: str, container_path: str, only: Optional[List[Path]] = None) -> int:
        """The contents of `local_dir` under `container_path`; `only` limits it to those files.
        Returns the number of files added."""
        root = Path(local_dir)
        self.directory(container_path)
        added = 0
        for path in (only if only is not None else list_files(root)):
            relative = path.relative_to(root).as_posix()
            target = posixpath.join(container_path.rstrip("/"), relative)
            self.directory(posixpath.dirname(target))
            try:
                info = self.tar.gettarinfo(str(path), arcname=target.lstrip("/"))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as handle:
                        self.tar.addfile(info, handle)
                elif info.issym():
                    self.tar.addfile(info)
                else:
                    continue  # devices, fifos, sockets: S3 holds none of these
            except OSError as error:
                raise UsageError(f"{path}: cannot read input file: {error.strerror or error}") from None
            added += 1
        return added

    def tarball(self, archive_path: str, container_path: str) -> int:
        """The members of a (gzipped) tar, such as model.tar.gz, unpacked under `container_path` as
        the platform unpacks a model: names that would lead out of the folder (absolute, `..`) are
        a usage error, as is anything but files, folders and links. Returns the files added."""
        self.directory(container_path)
        added = 0
        try:
            with tarfile.open(archive_path, mode="r:*") as source:
                for member in source:
                    relative = posixpath.normpath(member.name.lstrip("./") or ".")
                    if posixpath.isabs(member.name) or relative == ".." or relative.startswith("../"):
                        raise UsageError(f"{archive_path}: {member.name!r} leads out of the model folder")
                    if relative == ".":
                        continue
                    target = posixpath.join(container_path.rstrip("/"), relative)
                    self.directory(posixpath.dirname(target))
                    if member.isdir():
                        self.directory(target, member.mode & 0o7777 or 0o755)
                        continue
                    if not (member.isreg() or member.issym()):
                        continue  # devices, fifos: a model holds none of these
                    info = tarfile.TarInfo(target.lstrip("/"))
                    info.type, info.mode, info.mtime = member.type, member.mode, member.mtime
                    info.size, info.linkname = (member.size if member.isreg() else 0), member.linkname
                    self.tar.addfile(info, source.extractfile(member) if member.isreg() else None)
                    added += 1
        except (OSError, tarfile.TarError, EOFError) as error:
            raise UsageError(f"{archive_path}: not a readable model.tar.gz: {error}") from None
        return added

    def finish(self) -> IO[bytes]:
        self.tar.close()
        self.file.seek(0)
        return self.file


def list_files(root: Path) -> List[Path]:
    """Every file and symlink under `root` (what an S3 prefix would hold), sorted."""
    if not root.is_dir():
        raise UsageError(f"{root}: input folder does not exist or is not a folder")
    found: List[Path] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(Path(folder, name) for name in filenames)
        # A link to a folder is listed, not followed (os.walk's default).
        found.extend(Path(folder, name) for name in dirnames if Path(folder, name).is_symlink())
    return sorted(found)


class ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "bytearray | memoryview") -> int:  # type: ignore[override]
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def extract_into(chunks: Iterable[bytes], destination: Path) -> Tuple[int, List[str]]:
    """Extract a `get_archive` stream of a folder into `destination`, dropping the folder's own name
    (the archive's first component). Returns (files written, names refused with the reason)."""
    written, refused = 0, []
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), 1 << 20), mode="r|") as tar:
        for member in tar:
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1].strip("/"):
                continue  # the folder itself
            relative = parts[1]
            target = (root / relative).resolve() if not posixpath.isabs(relative) else None
            if target is None or ".." in relative.split("/") or not _inside(target, root):
                refused.append(f"{relative}: leads out of the output folder")
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isreg():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                with target.open("wb") as out:
                    while source is not None:
                        block = source.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                written += 1
            elif member.issym():
                pointed = (target.parent / member.linkname).resolve()
                if posixpath.isabs(member.linkname) or not _inside(pointed, root):
                    refused.append(f"{relative}: a link that leads out of the output folder")
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink() or target.exists():
                    target.unlink()
                os.symlink(member.linkname, target)
                written += 1
            else:
                refused.append(f"{relative}: not a file, folder or link")
    return written, refused


def read_single_file(chunks: Iterable[bytes], limit: int = MESSAGE_READ_LIMIT) -> Optional[bytes]:
    """The content of the one regular file in a `get_archive` stream (at most `limit` bytes)."""
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), 1 << 16), mode="r|") as tar:
        for member in tar:
            if member.isreg():
                handle = tar.extractfile(member)
                return handle.read(limit) if handle is not None else b""
    return None


def count_files(chunks: Iterable[bytes]) -> int:
    """The files and links in a `get_archive` stream (its folders not counted)."""
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), 1 << 20), mode="r|") as tar:
        return sum(1 for member in tar if member.isreg() or member.issym())


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
