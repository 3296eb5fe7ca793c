"""Records for a built image: its config, its layers, and the merged filesystem view."""
from __future__ import annotations

from types import MappingProxyType
from typing import Dict, Mapping, NamedTuple, Optional, Tuple


class HistoryEntry(NamedTuple):
    created_by: str  # the instruction that made the step, as the image history records it
    empty_layer: bool  # True for steps that made no layer (ENV, CMD, ...)


class ImageConfig(NamedTuple):
    """The parts of the OCI/Docker image config that the checks read."""

    entrypoint: Optional[Tuple[str, ...]]  # None when unset; () for an explicitly empty ENTRYPOINT
    cmd: Optional[Tuple[str, ...]]
    env: Tuple[Tuple[str, str], ...]
    working_dir: str
    user: str
    labels: Tuple[Tuple[str, str], ...]
    os: str
    architecture: str
    variant: str
    shell: Optional[Tuple[str, ...]]  # Docker's `Shell` (SHELL instruction), when recorded
    history: Tuple[HistoryEntry, ...]
    diff_ids: Tuple[str, ...]  # rootfs.diff_ids: one per layer, in order


class Layer(NamedTuple):
    index: int  # 0-based, bottom first
    digest: str  # the diff_id (sha256 of the uncompressed tar) when known, else the blob digest
    created_by: str  # from the history entry that made this layer, "" when unknown
    size: int  # bytes of the (possibly compressed) blob


class FileEntry(NamedTuple):
    """One path present in the final filesystem, and the layer that last wrote it."""

    path: str  # absolute, normalised: "/opt/ml/x"
    kind: str  # "file", "dir", "symlink", "hardlink", "other"
    size: int
    layer: int  # index of the layer that introduced this version of the path
    link: str = ""  # symlink or hardlink target as recorded


class ImageView(NamedTuple):
    """Everything an image check needs: where it came from, config, layers, final files."""

    source: str  # what the user named: image reference, archive path
    reference: str  # repo:tag or id as recorded in the source, "" when unknown
    config: ImageConfig
    layers: Tuple[Layer, ...]
    files: Dict[str, FileEntry]  # the merged view after whiteouts, keyed by path
    platforms: Tuple[str, ...] = ()  # all platforms an OCI index offered (for SM230 messages)
    # Where those platforms were on offer, for SM230's wording: "archive" (an OCI layout file or
    # folder), "engine" (the engine's `docker save` of the image), "index" (a registry's index),
    # "manifest" (a registry reference naming one image, no index); "" when not known.
    platforms_from: str = ""
    # What the loader kept of a few files (layers.capture_wanted): the text of small scripts, and
    # which shell ("busybox", "bash") an executable named sh/bash/dash/ash/busybox is.
    scripts: Mapping[str, str] = MappingProxyType({})
    shells: Mapping[str, str] = MappingProxyType({})
    # Permission bits of the files named train/serve (layers.MODE_WANTED); absent: not known.
    modes: Mapping[str, int] = MappingProxyType({})
