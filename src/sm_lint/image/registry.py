"""`registry:REF`: an image read straight from a registry with the OCI Distribution API, no engine.

The tag (or digest) resolves to a manifest or an index; from an index the `--platform` image is
chosen by the descriptors' platforms (the archive reader's rules: with one image there is no
choice; attestation manifests are never images). Then the config, then each layer blob, streamed
through the archive reader's LayerSink: hashed and listed as it arrives, never written to disk or
kept, with the same limits against decompression bombs (archive.Limits). Every document and blob
is checked against its digest and size, and every layer against the config's diff_id, by the very
code that builds an archive's view (archive._view), so a registry, an archive and an engine give
the same ImageView, and the same findings, for the same image.

Failures are one line and exit 3 (the registry is the environment): unreachable, refused
credentials, a missing tag or blob, content that does not match its digest. A reference that
cannot be one is a usage error (exit 2), said before any request.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import EnvironmentFailure, UsageError
from sm_lint.image.archive import (
    _CONFIG_TYPES, _INDEX_TYPES, _MANIFEST_TYPES, Limits, _Candidate, _descriptor, _descriptors, _matches,
    _parse_json, _parse_platform, _platform_of, _platform_text, _Session, _verify, _view,
)
from sm_lint.image.layers import LayerListing, LayerSink
from sm_lint.image.model import ImageView
from sm_lint.image.sources import RegistryOptions
from sm_lint.image.tarstream import FormatError, HashPool, new_hash, show

CHUNK = 1 << 20
RESUMES = 3  # a layer download cut short is resumed this many times at most
ACCEPT = ", ".join(_INDEX_TYPES + _MANIFEST_TYPES)
_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws")

# distribution/reference's grammar (reference/regexp.go)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_DOMAIN = re.compile(r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
                     r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})\Z")


class Reference(NamedTuple):
    host: str  # "docker.io" for Docker Hub, else as written ("127.0.0.1:5000")
    repository: str  # "library/python", "team/app"
    tag: str  # "latest" when neither tag nor digest is given
    digest: str  # "sha256:..." when pinned

    @property
    def pointer(self) -> str:
        """What the manifest is fetched by: the digest when pinned, else the tag."""
        return self.digest or self.tag


def parse_reference(text: str) -> Reference:
    """A reference as Docker normalises it: no registry part means Docker Hub (`python` is
    docker.io/library/python), no tag means `latest`."""
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.match(digest):
        raise UsageError(f"registry:{text}: invalid digest {digest!r} (expected sha256:<64 hex digits>)")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise UsageError(f"registry:{text}: invalid tag {tag!r}")
    first, slash_found, remainder = rest.partition("/")
    if slash_found and (("." in first or ":" in first or first == "localhost") or first.lower() != first):
        host, path = first, remainder
    else:
        host, path = "docker.io", rest
    if host == "index.docker.io":
        host = "docker.io"
    if not _DOMAIN.match(host):
        raise UsageError(f"registry:{text}: invalid registry host {host!r}")
    if host == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if not path or not _NAME.match(path):
        raise UsageError(f"registry:{text}: invalid repository name {path!r} (lower-case letters, digits and "
                         "separators . _ - /)")
    return Reference(host, path, tag or ("" if digest else "latest"), digest)


def image_from_registry(text: str, platform: str, options: RegistryOptions = RegistryOptions(),
                        limits: Optional[Limits] = None) -> ImageView:
    """The ImageView of `registry:text`."""
    from sm_lint.image.registry_client import RegistryClient

    reference = parse_reference(text)
    what = f"registry:{text}"
    try:
        want = _parse_platform(platform)
    except FormatError as exc:
        raise UsageError(str(exc)) from None
    limits = limits or Limits.from_env()
    client = RegistryClient(reference.host, reference.repository, options, what)
    try:
        with _Session(limits) as session:
            try:
                return _Reader(client, reference, session, what).view(want, platform, text)
            except FormatError as exc:
                raise EnvironmentFailure(f"{what}: {exc}") from None
    finally:
        client.close()


class _Reader:
    def __init__(self, client: Any, reference: Reference, session: _Session, what: str) -> None:
        self.client = client
        self.reference = reference
        self.session = session
        self.what = what
        self.stopped = False  # set when the read ends early: layer downloads still going stop

    def view(self, want: Any, asked: str, text: str) -> ImageView:
        reference = self.reference
        document, media = self.manifest(reference.pointer, reference.digest)
        offered: Tuple[str, ...] = ()
        index_platform: Any = None
        if _is_index(document, media):
            descriptor, offered = self._choose(document, want, asked)
            document, media = self.manifest(descriptor["digest"], descriptor["digest"], descriptor.get("size", -1))
            index_platform = descriptor.get("platform")
            if _is_index(document, media):
                raise FormatError(f"the index entry for {_platform_text(_platform_of(index_platform, None))} is"
                                  " another index: nested indexes are not supported from a registry")
        config_descriptor = _descriptor(document.get("config"), "the manifest's config")
        config_media = config_descriptor.get("mediaType", _CONFIG_TYPES[0])
        if config_media not in _CONFIG_TYPES:
            raise FormatError(f"not a container image: its config has media type {config_media}")
        digest = config_descriptor["digest"]
        config = _parse_json(self.blob_bytes(digest, config_descriptor.get("size", -1), "the image config"),
                             "the image config")
        chosen = _Candidate(document, config, f"blobs/{digest.replace(':', '/')}", digest, text,
                            _platform_of(index_platform, config))
        held_by = "index" if offered else "manifest"
        if not offered:
            offered = (_platform_text(chosen.platform),)
        layers = [(f"blobs/{d['digest'].replace(':', '/')}", d) for d in _descriptors(document, "layers")]
        store = _BlobStore(self, layers)
        try:
            return _view(store, f"registry:{text}", chosen, text, layers, offered, held_by)
        finally:
            store.stop()

    # -- documents --------------------------------------------------------------------------------
    def manifest(self, pointer: str, digest: str = "", size: int = -1) -> Tuple[Dict[str, Any], str]:
        """The manifest or index `pointer` names, verified against `digest` (or, for a tag, the
        Docker-Content-Digest the registry announces)."""
        client, reference = self.client, self.reference
        limit = self.session.limits.max_json_bytes
        response = client.get(f"/v2/{reference.repository}/manifests/{pointer}", ACCEPT, stream=True)
        with response:
            if response.status_code == 404:
                raise self._not_found(response, pointer)
            if response.status_code >= 400:
                raise client.status_failure(response, f"the manifest request for {pointer}")
            data = self._read_all(response, limit, f"the manifest {pointer}")
            media = (response.headers.get("Content-Type") or "").split(";")[0].strip()
            announced = response.headers.get("Docker-Content-Digest", "")
        what = f"the manifest {show(pointer)}"
        expected = digest or (announced if _DIGEST.match(announced) else "")
        hasher = new_hash(expected.partition(":")[0] if expected else "sha256")
        hasher.update(data)
        _verify(hasher, len(data), expected, size, what)
        document = _parse_json(data, what)
        if not isinstance(document, dict):
            raise FormatError(f"{what} is not a JSON object")
        media = document.get("mediaType") if isinstance(document.get("mediaType"), str) else media
        if media in _SCHEMA1 or document.get("schemaVersion") == 1:
            raise FormatError(f"{what} is a Docker schema 1 manifest (deprecated since 2017): not supported")
        return document, media

    def blob_bytes(self, digest: str, size: int, what: str) -> bytes:
        limit = self.session.limits.max_json_bytes
        if size > limit:
            raise FormatError(f"{what} is larger than {limit} bytes")
        for attempt in range(RESUMES + 1):  # small documents: a cut download is fetched again whole
            response = self._blob(digest, what)
            try:
                with response:
                    data = self._read_all(response, limit, what)
                break
            except _Broken:
                if attempt == RESUMES:
                    raise
        hasher = new_hash(digest.partition(":")[0])
        hasher.update(data)
        _verify(hasher, len(data), digest, size, what)
        return data

    def _blob(self, digest: str, what: str, offset: int = 0) -> Any:
        extra = {"Range": f"bytes={offset}-"} if offset else None
        response = self.client.get(f"/v2/{self.reference.repository}/blobs/{digest}", stream=True, extra=extra)
        if response.status_code == 404:
            response.close()
            raise EnvironmentFailure(f"{self.what}: {what} ({digest[:19]}...) is missing from registry "
                                     f"{self.client.host} (BLOB_UNKNOWN)")
        if response.status_code >= 400:
            response.close()
            raise self.client.status_failure(response, f"the request for {what}")
        return response

    def layer(self, what: str, digest: str, size: int) -> LayerListing:
        """One layer blob, streamed into a LayerSink. Each layer has its own hashing thread, so
        layers read in parallel (_BlobStore) hash in parallel too and wait only for their own.
        A download cut short is resumed where it stopped (a Range request, as Docker resumes
        pulls), RESUMES times at most; the sink never sees a byte twice."""
        session = self.session
        pool = HashPool(lanes=2)  # the blob digest and the diff_id at once
        try:
            sink = LayerSink(what, pool, session.budget, digest.partition(":")[0], session.limits.max_meta_bytes)
            received = 0
            for attempt in range(RESUMES + 1):
                response = self._blob(digest, what, received)
                # a server that ignores Range sends the blob from its start again: skip what we have
                skip = received if received and response.status_code != 206 else 0
                if received and response.status_code == 206 and not response.headers.get(
                        "Content-Range", "").startswith(f"bytes {received}-"):
                    response.close()
                    raise FormatError(f"{what}: the registry resumed at another offset than {received}")
                try:
                    with response:
                        for chunk in self._chunks(response, what, size, received - skip):
                            if skip:
                                dropped = min(skip, len(chunk))
                                chunk, skip = chunk[dropped:], skip - dropped
                                if not chunk:
                                    continue
                            received += len(chunk)
                            if size >= 0 and received > size:
                                raise FormatError(f"{what} is larger than its descriptor's {size} bytes")
                            session.budget.read += len(chunk)
                            sink.write(chunk)
                    break
                except _Broken:
                    if attempt == RESUMES or size < 0 or received >= size:
                        raise
            listing = sink.close()
            pool.drain()
        finally:
            pool.close()
        _verify(listing.raw_hash, listing.blob_size, digest, size, what)
        return listing

    def _chunks(self, response: Any, what: str, size: int, start: int = 0) -> Any:
        import requests
        import urllib3.exceptions

        received = start
        try:
            for chunk in response.raw.stream(CHUNK, decode_content=False):
                if self.stopped:
                    raise _Stopped()
                received += len(chunk)
                yield chunk
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            expected = f" of {size}" if size >= 0 else ""
            raise _Broken(f"{self.what}: registry {self.client.host} stopped sending {what} after "
                          f"{received}{expected} bytes ({self.client.cause(exc)})") from None

    def _read_all(self, response: Any, limit: int, what: str) -> bytes:
        parts: List[bytes] = []
        total = 0
        for chunk in self._chunks(response, what, -1):
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                raise FormatError(f"{what} is larger than {limit} bytes")
        self.session.budget.read += total
        return b"".join(parts)

    def _not_found(self, response: Any, pointer: str) -> EnvironmentFailure:
        from sm_lint.image.registry_client import registry_error

        detail = registry_error(response) or "404"
        reference, host = self.reference, self.client.host
        if "NAME_UNKNOWN" in detail:
            return EnvironmentFailure(f"{self.what}: registry {host} has no repository {reference.repository} ({detail})")
        kind = "manifest" if pointer.startswith("sha") else "tag"
        return EnvironmentFailure(f"{self.what}: registry {host} has no {kind} {pointer} in {reference.repository}"
                                  f" ({detail})")

    # -- which image ------------------------------------------------------------------------------
    def _choose(self, index: Dict[str, Any], want: Any, asked: str) -> Tuple[Dict[str, Any], Tuple[str, ...]]:
        manifests = index.get("manifests")
        if not isinstance(manifests, list):
            raise FormatError("the index has no manifests list")
        images = []
        for number, raw in enumerate(manifests):
            descriptor = _descriptor(raw, f"index manifests[{number}]")
            annotations = descriptor.get("annotations") or {}
            if isinstance(annotations, dict) and annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                continue
            platform = _platform_of(descriptor.get("platform"), None)
            if platform[:2] == ("unknown", "unknown"):
                continue  # buildx's attestation entries without the annotation
            images.append((descriptor, platform))
        if not images:
            raise FormatError("the index names no image")
        offered = tuple(dict.fromkeys(_platform_text(platform) for _, platform in images))
        if len(images) == 1:
            return images[0][0], offered
        matches = [(d, p) for d, p in images if _matches(p, want)]
        if not matches:
            raise FormatError(f"no image for {asked}; the index offers {', '.join(offered)}")
        exact = [(d, p) for d, p in matches if p == want] or matches
        return exact[0][0], offered


class _Broken(EnvironmentFailure):
    """A download that stopped in the middle (connection reset, timeout)."""


class _Stopped(Exception):
    """A layer download ended because the read as a whole did (an error elsewhere, Ctrl-C)."""


class _BlobStore:
    """What archive._view asks of a store, served from the registry. The layers are fetched
    PARALLEL at a time, as Docker pulls (max-concurrent-downloads 3), each into its own LayerSink
    on a daemon thread: the socket reads, zlib and sha256 release the GIL, so on two cores the
    layers overlap instead of queueing behind one another. `_view` still takes them in order, and
    the first failure in that order is the one reported. The shared Budget's counters are updated
    without a lock: a lost update can only let a bomb run one chunk further."""

    PARALLEL = 3

    def __init__(self, reader: _Reader, layers: List[Tuple[str, Dict[str, Any]]]) -> None:
        import threading

        self._reader = reader
        self._results: List[Any] = [None] * len(layers)
        self._next = 0
        self._slots = threading.Semaphore(self.PARALLEL)
        self._threads = []
        for number, (path, descriptor) in enumerate(layers):
            what = f"layer {number} ({show(path)})"  # as archive._view names it
            thread = threading.Thread(target=self._fetch, args=(number, what, descriptor), daemon=True,
                                      name=f"sm-lint-layer-{number}")
            self._threads.append(thread)
            thread.start()

    def _fetch(self, number: int, what: str, descriptor: Dict[str, Any]) -> None:
        with self._slots:
            if self._reader.stopped:
                return
            try:
                self._results[number] = self._reader.layer(what, descriptor["digest"], descriptor.get("size", -1))
            except BaseException as error:  # noqa: BLE001 - handed to the thread that asks for this layer
                self._results[number] = error

    def exists(self, path: str) -> bool:
        return True  # a registry serves every blob its manifest names (a missing one is a 404 there)

    def layer(self, path: str, what: str, digest: str = "", size: int = -1) -> LayerListing:
        number, self._next = self._next, self._next + 1
        thread = self._threads[number]
        while thread.is_alive():
            thread.join(0.2)  # in slices: Ctrl-C reaches the main thread
        result = self._results[number]
        if isinstance(result, BaseException):
            raise result
        return result

    def stop(self) -> None:
        """The read is over (done or failed): downloads still going end at their next chunk."""
        import time

        self._reader.stopped = True
        deadline = time.monotonic() + 2  # daemon threads: one blocked in a read is left to the exit
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _is_index(document: Dict[str, Any], media: str) -> bool:
    return media in _INDEX_TYPES or ("manifests" in document and "layers" not in document)
