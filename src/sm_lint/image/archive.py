"""Read a built image from an archive, streaming, without a Docker engine.

Sources: a `docker save` tar (the legacy layout of Docker < 25: `<id>/layer.tar`, `<id>.json`,
`manifest.json` last), an OCI image layout as a directory or a tar (buildx `type=oci`, skopeo,
podman), Docker 25+'s OCI layout with a compatibility `manifest.json`, any of them gzip-, zstd-,
xz- or bzip2-wrapped, and the `docker save` byte stream of the engine API.

One pass: every member of the outer tar is read once, in archive order; layer blobs are hashed,
decompressed and listed as they pass (layers.LayerSink) and JSON documents are kept. Which
layers make the image, and in which order, is only decided at the end, from manifest.json or
index.json, because `docker save` writes those last. A directory is read the same way, but only
the blobs the chosen manifest names. Nothing is written to disk.

Hostile input ends in an ArchiveError with one line, or in a bounded result:
- member names that climb out of the root ("../x") are refused, as Docker refuses them; absolute
  names are read relative to the root, as Docker does; link targets are recorded, never followed;
- every blob is checked against its digest, every layer against the config's diff_id, and every
  OCI blob against its descriptor's size (sha256 runs on a worker thread, overlapping the parse);
- decompression output is bounded per layer (SM_LINT_MAX_LAYER_BYTES, default 64 GiB) and for
  the archive relative to its size (SM_LINT_MAX_RATIO, default 2000x plus 1 GiB: gzip cannot
  exceed about 1032x, so this only stops zstd/xz/bzip2 bombs), so work is bounded by the input;
- memory is bounded by the number of paths (SM_LINT_MAX_PATHS, default 5 million), JSON
  documents (16 MiB each) and pax headers (1 MiB each); decompressors emit at most 1 MiB at once.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import stat
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

from sm_lint.errors import UsageError
from sm_lint.image.layers import Budget, LayerListing, LayerSink, captured, merge, modes
from sm_lint.image.model import FileEntry, HistoryEntry, ImageConfig, ImageView, Layer
from sm_lint.image.tarstream import (
    HARDLINK, MAGIC_BYTES, REGULAR, SYMLINK, AREGULAR, Bytes, FormatError, HashPool, TarParser,
    compression_of, decoder, looks_like_tar, new_hash, show,
)

CHUNK = 1 << 20
_SMALL = 64 << 10  # unrecognised members up to this size are kept, in case a manifest calls them layers
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")
_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm", "i386": "386"}
_NAME_KEYS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


class ArchiveError(UsageError):
    """The archive cannot be read as an image: malformed, truncated, tampered or too big."""


class Limits(NamedTuple):
    max_layer_bytes: int = 64 << 30  # uncompressed bytes of one layer
    max_ratio: int = 2000  # decompressed bytes per input byte, over the whole archive (0: off)
    max_paths: int = 5_000_000  # paths listed in all layers together
    max_json_bytes: int = 16 << 20  # one manifest, index or config
    max_meta_bytes: int = 1 << 20  # one pax or GNU long-name header
    ratio_slack: int = 1 << 30  # decompressed bytes allowed on top of max_ratio times the input

    @classmethod
    def from_env(cls, environ: Optional[Dict[str, str]] = None) -> "Limits":
        """Defaults, with SM_LINT_MAX_LAYER_BYTES, SM_LINT_MAX_RATIO and SM_LINT_MAX_PATHS applied."""
        env = os.environ if environ is None else environ
        values = {}
        for field in ("max_layer_bytes", "max_ratio", "max_paths"):
            text = env.get(f"SM_LINT_{field.upper()}")
            if text:
                try:
                    values[field] = int(text)
                except ValueError:
                    raise ArchiveError(f"SM_LINT_{field.upper()}={text!r} is not a whole number") from None
        return cls(**values)


Platform = Tuple[str, str, str]  # os, architecture, variant


def read_stream(chunks: Iterable[bytes], source: str, platform: str = "linux/amd64",
                limits: Optional[Limits] = None, holder: str = "archive") -> ImageView:
    """The image in a `docker save` byte stream (for example `images.get(x).save(chunk_size=...)`),
    legacy or OCI layout, optionally compressed. The stream is read once and never seeked.
    `holder` says whose platforms the stream offers (ImageView.platforms_from): "engine" for a save."""
    limits = limits or Limits.from_env()
    with _Session(limits) as session:
        return session.run(source, lambda: _TarStore.collect(chunks, session), platform, holder)


def read_archive(path: str, platform: str = "linux/amd64", limits: Optional[Limits] = None) -> ImageView:
    """The image in a file (docker-save or OCI tar, optionally compressed) or an OCI layout directory."""
    limits = limits or Limits.from_env()
    with _Session(limits) as session:
        if os.path.isdir(path):
            return session.run(path, lambda: _DirStore(path, session), platform)
        return session.run(path, lambda: _TarStore.collect(_file_chunks(path), session), platform)


class _Session:
    """One read: the hashing worker, the limits, and the one place errors become ArchiveError."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = Budget(limits.max_paths, limits.max_layer_bytes, limits.max_ratio, limits.ratio_slack)
        self.pool = HashPool(lanes=2)  # the blob digest and the diff_id at once

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pool.close()

    def run(self, source: str, open_store: Any, platform: str, holder: str = "archive") -> ImageView:
        try:
            return _resolve(open_store(), source, platform, holder)
        except FormatError as exc:
            raise ArchiveError(f"{source}: {exc}") from None
        except OSError as exc:
            raise ArchiveError(f"{source}: cannot read: {exc.strerror or exc}") from None


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                return
            yield chunk


# -- stores: where blobs come from -------------------------------------------------------------

class _Member:
    """What the pass over an outer tar kept of one regular member."""

    __slots__ = ("name", "size", "hash", "data", "listing")

    def __init__(self, name: str, size: int, algorithm: str) -> None:
        self.name = name
        self.size = size
        self.hash: Any = new_hash(algorithm)
        self.data: Optional[bytes] = None  # JSON documents and small unrecognised members
        self.listing: Optional[LayerListing] = None  # members that were layers


class _Keep:
    """Sink that hashes a member and keeps its bytes up to a limit (0: keeps nothing)."""

    def __init__(self, member: _Member, limit: int, pool: HashPool) -> None:
        self._member, self._limit, self._pool = member, limit, pool
        self._data: Optional[bytearray] = bytearray() if limit else None

    def write(self, data: Bytes) -> None:
        self._pool.update(self._member.hash, data)
        if self._data is not None:
            if len(self._data) + len(data) > self._limit:
                self._data = None
            else:
                self._data += data

    def close(self) -> None:
        if self._data is not None:
            self._member.data = bytes(self._data)


class _Sniff:
    """Sink that looks at a member's first bytes to tell a layer from a JSON document: in an OCI
    tar, blobs come before index.json, so their roles are unknown while they pass."""

    def __init__(self, member: _Member, session: _Session) -> None:
        self._member, self._session = member, session
        self._head = bytearray()
        self._target: Any = None

    def write(self, data: Bytes) -> None:
        if self._target is not None:
            self._target.write(data)
            return
        self._head += data
        if len(self._head) >= 512:
            self._decide()

    def close(self) -> None:
        if self._target is None:
            self._decide()
        result = self._target.close()
        if isinstance(result, LayerListing):
            self._member.listing = result

    def _decide(self) -> None:
        head, self._head = bytes(self._head), bytearray()
        member, session = self._member, self._session
        if head and (compression_of(head[:MAGIC_BYTES]) != "none" or looks_like_tar(head)):
            sink = LayerSink(f"layer {show(member.name)!r}", session.pool, session.budget,
                             member.hash.name, session.limits.max_meta_bytes)
            member.hash = sink.listing.raw_hash
            self._target = sink
        elif head.lstrip()[:1] in (b"{", b"[") and member.size <= session.limits.max_json_bytes:
            self._target = _Keep(member, session.limits.max_json_bytes, session.pool)
        else:
            self._target = _Keep(member, _SMALL if member.size <= _SMALL else 0, session.pool)
        if head:
            self._target.write(head)


class _TarStore:
    """Blobs of an archive read as one tar stream."""

    _JSON_NAMES = ("manifest.json", "index.json", "oci-layout", "repositories")

    def __init__(self, session: _Session) -> None:
        self._session = session
        self.members: Dict[str, _Member] = {}
        self.links: Dict[str, str] = {}

    @classmethod
    def collect(cls, chunks: Iterable[bytes], session: _Session) -> "_TarStore":
        store = cls(session)
        parser = TarParser(store._entry, session.limits.max_meta_bytes, "archive")
        head = b""
        wrapper: Any = None  # the decompressor around the whole archive (docker save | gzip)
        feed: Any = None
        for chunk in chunks:
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)  # the hasher reads later: never keep a view of a reused buffer
            session.budget.read += len(chunk)
            if feed is None:
                head += chunk
                if len(head) < MAGIC_BYTES:
                    continue
                wrapper, feed = store._unwrap(head, parser)
                chunk, head = head, b""
            feed(chunk)
            if parser.ended:
                break  # what follows is padding (or a bomb's tail): never read it
        else:
            if feed is None:
                if not head:
                    raise FormatError("empty archive")
                wrapper, feed = store._unwrap(head, parser)
                feed(head)
            if wrapper is not None and not parser.ended:
                wrapper.close()
            if not parser.ended:
                parser.close()
        session.pool.drain()
        if not store.members and not store.links:
            raise FormatError("the archive holds no files")
        return store

    def _unwrap(self, head: bytes, parser: TarParser) -> Tuple[Any, Any]:
        wrapper = decoder(compression_of(head), lambda chunk: self._inflated(chunk, parser))
        return wrapper, (parser.feed if wrapper is None else wrapper.write)

    def _inflated(self, chunk: bytes, parser: TarParser) -> None:
        self._session.budget.take_inflated(len(chunk))
        if not parser.ended:
            parser.feed(chunk)

    def _entry(self, name: str, typeflag: int, size: int, link: str) -> Any:
        name = _member_name(name)
        if typeflag == SYMLINK:  # docker save links a layer shared by two images
            self.links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
            return None
        if typeflag == HARDLINK:
            self.links[name] = _member_name(link)
            return None
        if typeflag not in (REGULAR, AREGULAR) or name.endswith("/"):
            return None
        base = name.rsplit("/", 1)[-1]
        if base in ("json", "VERSION") and "/" in name and not name.startswith("blobs/"):
            return None  # legacy v1 metadata: not needed, not kept
        algorithm = "sha512" if name.startswith("blobs/sha512/") else "sha256"
        member = self.members[name] = _Member(name, size, algorithm)
        limits = self._session.limits
        if name in self._JSON_NAMES or ("/" not in name and name.endswith(".json")):
            return _Keep(member, limits.max_json_bytes, self._session.pool)
        return _Sniff(member, self._session)

    def _lookup(self, path: str) -> Optional[_Member]:
        for _ in range(8):
            member = self.members.get(path)
            if member is not None:
                return member
            if path not in self.links:
                return None
            path = self.links[path]
        return None

    def exists(self, path: str) -> bool:
        return self._lookup(path) is not None

    def read_json(self, path: str, what: str, digest: str = "", size: int = -1) -> Any:
        member = self._found(path, what, digest, size)
        if member.data is None:
            if member.listing is not None:
                raise FormatError(f"{what} is a tar layer, not a JSON document")
            raise FormatError(f"{what} is larger than {self._session.limits.max_json_bytes} bytes")
        return _parse_json(member.data, what)

    def layer(self, path: str, what: str, digest: str = "", size: int = -1) -> LayerListing:
        member = self._found(path, what, digest, size)
        if member.listing is not None:
            return member.listing
        if member.data is None:
            raise FormatError(f"{what} is not a tar, gzip or zstd stream")
        sink = LayerSink(what, self._session.pool, self._session.budget, member.hash.name,
                         self._session.limits.max_meta_bytes)
        sink.write(member.data)
        listing = sink.close()
        self._session.pool.drain()
        return listing

    def _found(self, path: str, what: str, digest: str, size: int) -> _Member:
        member = self._lookup(path)
        if member is None:
            raise FormatError(f"{what} is missing from the archive ({show(path)!r})")
        _verify(member.hash, member.size, digest, size, what)
        return member


class _DirStore:
    """Blobs of an OCI image layout directory, read on demand: only the chosen image's."""

    def __init__(self, root: str, session: _Session) -> None:
        self._root = root
        self._session = session

    def _path(self, path: str) -> str:
        return os.path.join(self._root, *path.split("/"))

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._path(path))

    def _open(self, path: str, what: str) -> int:
        try:
            # O_NONBLOCK: a FIFO planted as a blob must not hang the open; regular files ignore it
            fd = os.open(self._path(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise FormatError(f"{what} is missing from the layout ({show(path)!r})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FormatError(f"{what} is not a regular file ({show(path)!r})")
        return fd

    def _chunks(self, fd: int, size: int, what: str) -> Iterator[bytes]:
        # never read past what the descriptor promised (plus one byte, to notice a longer blob)
        left = size + 1 if size >= 0 else -1
        while left:
            chunk = os.read(fd, CHUNK if left < 0 else min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk) if left > 0 else 0
            self._session.budget.read += len(chunk)
            yield chunk
        raise FormatError(f"{what} is larger than its descriptor's {size} bytes")

    def read_json(self, path: str, what: str, digest: str = "", size: int = -1) -> Any:
        limit = self._session.limits.max_json_bytes
        if size > limit:
            raise FormatError(f"{what} is larger than {limit} bytes")
        fd = self._open(path, what)
        try:
            parts = []
            left = limit + 1
            while left > 0:
                chunk = os.read(fd, min(CHUNK, left))
                if not chunk:
                    break
                parts.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(parts)
        if len(data) > limit:
            raise FormatError(f"{what} is larger than {limit} bytes")
        self._session.budget.read += len(data)
        hasher = new_hash(digest.partition(":")[0] if digest else "sha256")
        hasher.update(data)
        _verify(hasher, len(data), digest, size, what)
        return _parse_json(data, what)

    def layer(self, path: str, what: str, digest: str = "", size: int = -1) -> LayerListing:
        session = self._session
        algorithm = digest.partition(":")[0] if digest else "sha256"
        sink = LayerSink(what, session.pool, session.budget, algorithm, session.limits.max_meta_bytes)
        fd = self._open(path, what)
        try:
            for chunk in self._chunks(fd, size, what):
                sink.write(chunk)
        finally:
            os.close(fd)
        listing = sink.close()
        session.pool.drain()
        _verify(listing.raw_hash, listing.blob_size, digest, size, what)
        return listing


def _verify(hasher: Any, actual_size: int, digest: str, size: int, what: str) -> None:
    if size >= 0 and actual_size != size:
        raise FormatError(f"{what} has {actual_size} bytes, its descriptor says {size} (truncated or tampered)")
    if digest:
        algorithm, _, expected = digest.partition(":")
        if hasher.name != algorithm or hasher.hexdigest() != expected:
            raise FormatError(f"{what} does not match its digest {digest[:19]}... (corrupt or tampered)")


def _member_name(name: str) -> str:
    name = posixpath.normpath(name.lstrip("/")) if name not in (".", "./") else ""
    return "" if name == "." else name


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise FormatError(f"{what} is not valid JSON ({detail})") from None


# -- which image ---------------------------------------------------------------------------------

class _Candidate(NamedTuple):
    manifest: Any  # the manifest document (OCI) or manifest.json entry (docker save)
    config: Any  # the config document
    config_path: str
    config_digest: str
    reference: str
    platform: Platform


def _resolve(store: Any, source: str, platform: str, holder: str) -> ImageView:
    want = _parse_platform(platform)
    if store.exists("index.json"):
        found = _oci_candidates(store)
        if found:
            chosen, offered = _choose(found, want, platform)
            reference = chosen.reference or _compat_tag(store, chosen.config_digest)
            layers = [(_blob_path(d, "layer descriptor"), d) for d in _descriptors(chosen.manifest, "layers")]
            return _view(store, source, chosen, reference, layers, offered, holder)
    if store.exists("manifest.json"):
        found = _docker_save_candidates(store)
        chosen, _ = _choose(found, want, platform)
        legacy: List[Tuple[str, Optional[Dict[str, Any]]]] = [(path, None) for path in chosen.manifest["Layers"]]
        return _view(store, source, chosen, chosen.reference, legacy, (), holder)
    if store.exists("index.json"):
        raise FormatError("index.json names no image manifest that the archive holds")
    if store.exists("repositories"):
        raise FormatError("no manifest.json, only the `repositories` file of Docker before 1.10: not supported")
    raise FormatError("neither manifest.json (docker save) nor index.json (OCI layout): not an image archive")


def _oci_candidates(store: Any) -> List[_Candidate]:
    if store.exists("oci-layout"):
        layout = store.read_json("oci-layout", "oci-layout")
        if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
            raise FormatError("oci-layout has no imageLayoutVersion")
    index = store.read_json("index.json", "index.json")
    found: List[_Candidate] = []
    seen: Set[str] = set()
    for descriptor, names in _walk_index(store, index, "index.json", {}, 0, set()):
        path = _blob_path(descriptor, "manifest descriptor")
        if path in seen or not store.exists(path):
            continue  # named but not saved (Docker 25 saves one platform of an index), or listed twice
        seen.add(path)
        what = f"manifest {descriptor['digest'][:19]}..."
        manifest = store.read_json(path, what, descriptor["digest"], descriptor.get("size", -1))
        if not isinstance(manifest, dict):
            raise FormatError(f"{what} is not a JSON object")
        config_descriptor = _descriptor(manifest.get("config"), f"{what}: config")
        media = config_descriptor.get("mediaType", _CONFIG_TYPES[0])
        if media not in _CONFIG_TYPES:
            continue  # an artifact (attestation, signature, helm chart), not a container image
        config_path = _blob_path(config_descriptor, f"{what}: config")
        config = store.read_json(config_path, f"config of {what}", config_descriptor["digest"],
                                 config_descriptor.get("size", -1))
        platform = _platform_of(descriptor.get("platform"), config)
        reference = next((names[key] for key in _NAME_KEYS if key in names), "")
        found.append(_Candidate(manifest, config, config_path, config_descriptor["digest"], reference, platform))
    return found


def _walk_index(store: Any, index: Any, what: str, names: Dict[str, str], depth: int,
                visited: Set[str]) -> Iterator[Tuple[Dict[str, Any], Dict[str, str]]]:
    """Manifest descriptors reachable from an index (nested indexes included), with the image
    names annotated on the way down (Docker 25 names the index entry, not the manifest)."""
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise FormatError(f"{what} has no manifests list")
    if depth > 4:
        raise FormatError(f"{what}: indexes nested too deep")
    for number, raw in enumerate(index["manifests"]):
        descriptor = _descriptor(raw, f"{what}: manifests[{number}]")
        annotations = descriptor.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise FormatError(f"{what}: manifests[{number}] has bad annotations")
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        here = dict(names)
        here.update({k: v for k, v in annotations.items() if k in _NAME_KEYS and isinstance(v, str)})
        media = descriptor.get("mediaType", "")
        path = _blob_path(descriptor, f"{what}: manifests[{number}]")
        if media in _INDEX_TYPES or (not media and store.exists(path) and _is_index(store, path, descriptor)):
            if path in visited or not store.exists(path):
                continue
            visited.add(path)
            nested = store.read_json(path, f"index {descriptor['digest'][:19]}...", descriptor["digest"],
                                     descriptor.get("size", -1))
            yield from _walk_index(store, nested, f"index {descriptor['digest'][:19]}...", here, depth + 1, visited)
        elif media in _MANIFEST_TYPES or not media:
            yield descriptor, here


def _is_index(store: Any, path: str, descriptor: Dict[str, Any]) -> bool:
    document = store.read_json(path, f"blob {descriptor['digest'][:19]}...", descriptor["digest"])
    return isinstance(document, dict) and "manifests" in document


def _docker_save_candidates(store: Any) -> List[_Candidate]:
    entries = store.read_json("manifest.json", "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise FormatError("manifest.json is not a non-empty list of images")
    found = []
    for number, entry in enumerate(entries):
        what = f"manifest.json[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise FormatError(f"{what} has no Config")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise FormatError(f"{what} has no Layers list")
        entry = dict(entry, Layers=[_inside(p, what) for p in layers])
        config_path = _inside(entry["Config"], what)
        digest = _digest_from_name(config_path)
        config = store.read_json(config_path, f"config {show(config_path)!r}", digest)
        tags = entry.get("RepoTags") or []
        reference = tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else ""
        found.append(_Candidate(entry, config, config_path, digest, reference, _platform_of(None, config)))
    return found


def _choose(found: List[_Candidate], want: Platform, asked: str) -> Tuple[_Candidate, Tuple[str, ...]]:
    """The image for the wanted platform. With one image there is no choice to make: it is read
    whatever its platform (SM230 then says what it is); among several, the platform decides."""
    unique: Dict[str, _Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.config_digest or candidate.config_path, candidate)
    images = list(unique.values())
    offered = tuple(dict.fromkeys(_platform_text(c.platform) for c in images))
    if len(images) == 1:
        return images[0], offered
    matches = [c for c in images if _matches(c.platform, want)]
    if not matches:
        raise FormatError(f"no image for {asked} in the archive; it offers {', '.join(offered)}")
    exact = [c for c in matches if c.platform == want] or matches
    same = [c for c in exact if c.platform == exact[0].platform]
    if len(same) > 1:
        names = ", ".join(c.reference or c.config_digest[:19] for c in same)
        raise FormatError(f"the archive holds {len(same)} different images for {_platform_text(same[0].platform)}"
                          f" ({names}): save one image per archive")
    return same[0], offered


def _view(store: Any, source: str, chosen: _Candidate, reference: str,
          layer_refs: Sequence[Tuple[str, Optional[Dict[str, Any]]]], offered: Tuple[str, ...],
          platforms_from: str) -> ImageView:
    config = _image_config(chosen.config)
    if len(config.diff_ids) != len(layer_refs):
        raise FormatError(f"the config lists {len(config.diff_ids)} layers (rootfs.diff_ids), the manifest {len(layer_refs)}")
    listings: List[LayerListing] = []
    for number, (path, descriptor) in enumerate(layer_refs):
        what = f"layer {number} ({show(path)})"
        if descriptor is not None:
            _check_layer_media(descriptor, what, store.exists(path))
            listing = store.layer(path, what, descriptor["digest"], descriptor.get("size", -1))
        else:
            listing = store.layer(path, what)
        if listing.diff_id() != config.diff_ids[number]:
            raise FormatError(f"{what}: its content hashes to {listing.diff_id()[:19]}..., the config's diff_id is"
                              f" {config.diff_ids[number][:19]}... (corrupt or tampered)")
        listings.append(listing)
    created = [h.created_by for h in config.history if not h.empty_layer]
    layers = tuple(Layer(number, config.diff_ids[number], created[number] if number < len(created) else "",
                         listing.blob_size) for number, listing in enumerate(listings))
    files: Dict[str, FileEntry] = merge(listings)
    kept = captured(listings, files)
    scripts = {path: value for path, (kind, value) in kept.items() if kind == "text"}
    shells = {path: value for path, (kind, value) in kept.items() if kind == "shell"}
    return ImageView(source, reference, config, layers, files, offered, platforms_from, scripts, shells,
                     modes(listings, files))


def _check_layer_media(descriptor: Dict[str, Any], what: str, present: bool) -> None:
    media = descriptor.get("mediaType", "")
    if "encrypted" in media:
        raise FormatError(f"{what} is encrypted ({media}): not supported")
    if media and "tar" not in media:
        raise FormatError(f"{what} has media type {media}, not a filesystem layer")
    if not present and ("foreign" in media or "nondistributable" in media):
        raise FormatError(f"{what} is a foreign layer that the archive does not hold ({media})")


def _compat_tag(store: Any, config_digest: str) -> str:
    """Docker 25 writes names into its compatibility manifest.json too."""
    if not store.exists("manifest.json"):
        return ""
    try:
        entries = store.read_json("manifest.json", "manifest.json")
    except FormatError:
        return ""
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("Config") == _blob_path({"digest": config_digest}, "config"):
            tags = entry.get("RepoTags") or []
            if isinstance(tags, list) and tags and isinstance(tags[0], str):
                return tags[0]
    return ""


# -- documents -------------------------------------------------------------------------------------

def _descriptor(raw: Any, what: str) -> Dict[str, Any]:
    if not isinstance(raw, dict):
        raise FormatError(f"{what} is not a descriptor")
    digest, size = raw.get("digest"), raw.get("size", -1)
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise FormatError(f"{what} has an invalid digest {show(str(digest))!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < -1:
        raise FormatError(f"{what} has an invalid size")
    if not isinstance(raw.get("mediaType", ""), str):
        raise FormatError(f"{what} has an invalid mediaType")
    return raw


def _descriptors(manifest: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    items = manifest.get(key)
    if not isinstance(items, list):
        raise FormatError(f"the manifest has no {key} list")
    return [_descriptor(item, f"manifest {key}[{number}]") for number, item in enumerate(items)]


def _blob_path(descriptor: Dict[str, Any], what: str) -> str:
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise FormatError(f"{what} has an invalid digest")
    algorithm, _, hexa = digest.partition(":")
    return f"blobs/{algorithm}/{hexa}"


def _digest_from_name(path: str) -> str:
    """docker save names a config by its sha256 (`<hex>.json`; `blobs/sha256/<hex>` in Docker 25)."""
    match = re.fullmatch(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?", path)
    return f"sha256:{match.group(1)}" if match else ""


def _inside(path: str, what: str) -> str:
    clean = posixpath.normpath(path.lstrip("/")) if path else ""
    if not clean or clean == "." or clean == ".." or clean.startswith("../"):
        raise FormatError(f"{what} names a path outside the archive: {show(path)!r}")
    return clean


def _image_config(raw: Any) -> ImageConfig:
    if not isinstance(raw, dict):
        raise FormatError("the image config is not a JSON object")
    container = raw.get("config") or {}
    if not isinstance(container, dict):
        raise FormatError("the image config's config is not an object")
    rootfs = raw.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) and d.startswith("sha256:") for d in diff_ids):
        raise FormatError("the image config has no rootfs.diff_ids list of sha256 digests")
    env = []
    for item in _strings(container, "Env") or ():
        key, _, value = item.partition("=")
        env.append((key, value))
    labels = container.get("Labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise FormatError("the image config's Labels is not a map of strings")
    return ImageConfig(
        entrypoint=_strings(container, "Entrypoint"), cmd=_strings(container, "Cmd"), env=tuple(env),
        working_dir=_text(container, "WorkingDir"), user=_text(container, "User"),
        labels=tuple(labels.items()), os=_text(raw, "os"), architecture=_text(raw, "architecture"),
        variant=_text(raw, "variant"), shell=_strings(container, "Shell"), history=_history(raw),
        diff_ids=tuple(diff_ids))


def _strings(obj: Dict[str, Any], key: str) -> Optional[Tuple[str, ...]]:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"the image config's {key} is not a list of strings")
    return tuple(value)


def _text(obj: Dict[str, Any], key: str) -> str:
    value = obj.get(key) or ""
    if not isinstance(value, str):
        raise FormatError(f"the image config's {key} is not a string")
    return value


def _history(raw: Dict[str, Any]) -> Tuple[HistoryEntry, ...]:
    history = raw.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise FormatError("the image config's history is not a list of objects")
    return tuple(HistoryEntry(str(h.get("created_by") or ""), bool(h.get("empty_layer", False))) for h in history)


def _platform_of(raw: Any, config: Any) -> Platform:
    source = raw if isinstance(raw, dict) and raw.get("architecture") else config
    if not isinstance(source, dict):
        return ("", "", "")
    values = [source.get(k) or "" for k in ("os", "architecture", "variant")]
    if not all(isinstance(v, str) for v in values):
        return ("", "", "")
    return _normal_platform(values[0], values[1], values[2])


def _normal_platform(os_name: str, arch: str, variant: str) -> Platform:
    arch = _ARCH_ALIASES.get(arch.lower(), arch.lower())
    variant = variant.lower()
    if arch == "arm64" and variant == "v8":
        variant = ""  # arm64 is v8 unless told otherwise
    return (os_name.lower(), arch, variant)


def _parse_platform(text: str) -> Platform:
    parts = text.strip().split("/")
    if len(parts) == 1:
        parts.insert(0, "linux")
    if len(parts) > 3 or not all(parts):
        raise FormatError(f"invalid platform {text!r}: expected os/arch[/variant], for example linux/amd64")
    return _normal_platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _matches(have: Platform, want: Platform) -> bool:
    return have[:2] == want[:2] and (not want[2] or have[2] == want[2])


def _platform_text(platform: Platform) -> str:
    return "/".join(part for part in platform if part) or "unknown"
