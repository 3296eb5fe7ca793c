"""Where an image comes from: the source schemes users know from syft and grype.

    docker:NAME           an image in a Docker engine (DOCKER_HOST, --docker-host)
    docker-archive:PATH   a `docker save` tar (optionally gzip/zstd/xz/bzip2-wrapped)
    oci-archive:PATH      an OCI image layout as a tar
    oci-dir:PATH          an OCI image layout directory
    registry:REF          a registry, through the OCI Distribution API, with no engine
    NAME or PATH          no scheme: an existing path is an archive or layout, anything else an
                          engine image (what sm-lint always did)

The archive reader tells the layouts apart by their content, so the three archive schemes only
make sure that a path is read as a path (never looked up in an engine) and that it is a file or a
folder as the scheme says. Only this module knows the spellings; everything else takes a `Source`.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence, Tuple

from sm_lint.errors import UsageError

if TYPE_CHECKING:
    from sm_lint.image.model import ImageView

ENGINE, DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR, REGISTRY = "docker", "docker-archive", "oci-archive", "oci-dir", "registry"
SCHEMES = (ENGINE, DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR, REGISTRY)
_ARCHIVES = (DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR)


class RegistryOptions(NamedTuple):
    """How `registry:` sources are reached (flags of inspect and gate; check --image takes the
    defaults, and Docker's certs.d folders serve it too)."""

    insecure: Tuple[str, ...] = ()  # --insecure-registry HOST[:PORT]: plain HTTP allowed, TLS unverified
    ca_cert: Optional[str] = None  # --ca-cert FILE: a CA to trust on top of the usual ones


def registry_options(insecure: Sequence[str] = (), ca_cert: Optional[str] = None) -> RegistryOptions:
    """The registry flags, checked before any work: a CA file that is not there is a usage error."""
    if ca_cert is not None and not os.path.isfile(ca_cert):
        raise UsageError(f"--ca-cert {ca_cert!r}: no such file")
    hosts = []
    for host in insecure:
        host = host.strip()
        for prefix in ("http://", "https://"):
            host = host[len(prefix):] if host.startswith(prefix) else host
        if not host or "/" in host:
            raise UsageError(f"--insecure-registry {host!r}: expected HOST or HOST:PORT")
        hosts.append(host)
    return RegistryOptions(tuple(hosts), ca_cert)


class Source(NamedTuple):
    scheme: str  # one of SCHEMES
    value: str  # the engine name, the path, or the registry reference
    text: str  # what the user wrote, for messages and reports

    @property
    def in_engine(self) -> bool:
        return self.scheme == ENGINE


def parse(text: str) -> Source:
    """The source a command-line argument names. A scheme is recognised only when the text starts
    with one of SCHEMES and a colon: `registry.example.com:5000/x` and `localhost:5000/x` are
    engine names, as before."""
    scheme, colon, value = text.partition(":")
    if colon and scheme in SCHEMES:
        if not value:
            raise UsageError(f"{text!r}: nothing after {scheme}: (expected {_EXPECTED[scheme]})")
        return Source(scheme, value, text)
    if os.path.exists(text):
        return Source(OCI_DIR if os.path.isdir(text) else DOCKER_ARCHIVE, text, text)
    return Source(ENGINE, text, text)


def check_path(source: Source) -> None:
    """An archive scheme names an existing file (a directory for oci-dir): said up front, before
    any work, rather than as a read error."""
    if source.scheme not in _ARCHIVES:
        return
    path = source.value
    if not os.path.exists(path):
        raise UsageError(f"{source.text}: no such file or directory")
    if source.scheme == OCI_DIR and not os.path.isdir(path):
        raise UsageError(f"{source.text}: not a directory (oci-dir: names an OCI layout folder; "
                         f"use oci-archive: for a tar)")
    if source.scheme != OCI_DIR and os.path.isdir(path):
        raise UsageError(f"{source.text}: a directory (use oci-dir: for an OCI layout folder)")


def check(text: str) -> Source:
    """The source `text` names, with everything that can be wrong with it said before any work:
    a missing archive, the wrong kind of path, a malformed registry reference (exit 2)."""
    source = parse(text)
    check_path(source)
    if source.scheme == REGISTRY:
        from sm_lint.image.registry import parse_reference

        parse_reference(source.value)
    return source


def engine_name(text: str) -> Optional[str]:
    """The engine's name for the image a command-line argument names; None when it is not an
    engine image (an archive or a registry reference: nothing the engine can run as is)."""
    source = parse(text)
    return source.value if source.in_engine else None


def load_view(text: str, platform: str, docker_host: Optional[str],
              registry: RegistryOptions = RegistryOptions()) -> "ImageView":
    """The image a command-line argument names, read from wherever it lives."""
    source = parse(text)
    check_path(source)
    if source.scheme in _ARCHIVES:
        from sm_lint.image.archive import read_archive

        # Docker 25+ writes `docker save` as an OCI layout: the content decides how it is read.
        return read_archive(source.value, platform)
    if source.scheme == REGISTRY:
        from sm_lint.image.registry import image_from_registry

        return image_from_registry(source.value, platform, registry)
    from sm_lint.image.engine import image_from_engine

    return image_from_engine(source.value, docker_host, platform)


_EXPECTED = {
    ENGINE: "an image name, tag or id", DOCKER_ARCHIVE: "the path of a docker save tar",
    OCI_ARCHIVE: "the path of an OCI layout tar", OCI_DIR: "the path of an OCI layout folder",
    REGISTRY: "a reference such as registry.example.com/team/image:tag",
}
