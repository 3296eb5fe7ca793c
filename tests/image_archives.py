"""Write image archives for tests, from a small spec, without a Docker engine.

Spec
----
A *layer* is a list of entries. An entry is one of:

- a string: ``"opt/ml/code/run.py"`` is an empty file, ``"opt/ml/"`` (trailing slash) a directory;
- a tuple ``(path, kind, data, link)``, trailing items optional:
    ``("opt/ml/run.py", "file", b"print(1)")``  data: bytes, str (UTF-8) or int (that many zero bytes)
    ``("opt/ml", "dir")``
    ``("usr/bin/python", "symlink", None, "python3")``  (or ``symlink(path, target)``)
    ``("usr/bin/py", "hardlink", None, "usr/bin/python3")``
    ``("opt/old", "whiteout")``   deletes ``/opt/old`` of lower layers (writes ``opt/.wh.old``)
    ``("opt/data", "opaque")``    hides the lower contents of ``/opt/data`` (``opt/data/.wh..wh..opq``)
    kinds "fifo", "char", "block" give devices; paths are written verbatim, so hostile names
    (``"../x"``, ``"/abs"``) are possible;
- a ``(tarfile.TarInfo, bytes)`` pair, written as is (for exotic headers).

An *image* is ``Image(layers, config=..., platform=..., ...)``: ``config`` is the container config
(``{"Entrypoint": [...], "Cmd": [...], "Env": ["K=V"], "WorkingDir": ..., "User": ..., "Labels": {...},
"Shell": [...]}``); ``history`` gives ``created_by`` per layer (strings) or raw history dicts (to add
``empty_layer`` steps); ``image_config`` is merged over the whole config document last (to break
it on purpose); ``compression`` is the layer blob compression: "none", "gzip" or "zstd".

Writers (each returns bytes, or the files of a layout; ``write_image`` puts one on disk):

- ``docker_save(images)``: the legacy layout of Docker < 25 (``<id>/layer.tar``, ``<hex>.json``,
  ``manifest.json`` and ``repositories`` LAST, as Docker 20.10 streams it); a layer repeated in an
  image becomes a symlink to the first copy, as Docker writes it;
- ``oci_files(images, ...)`` / ``oci_tar(images, ...)`` / ``write_oci_dir(path, images, ...)``: an OCI
  image layout; several images make a multi-platform index (nested, as buildx writes it);
  ``docker25=True`` adds the compatibility ``manifest.json`` and ``repositories`` of Docker 25+;
  ``attestations=True`` adds buildx's ``unknown/unknown`` attestation manifests;
- ``gzip_bytes`` / ``zstd_bytes`` wrap a whole archive (``docker save x | gzip``);
- ``write_image(path, layers, config, fmt=...)``: one call for the common case;
- ``synthetic_docker_save(files_per_layer, file_size, layers)``: a large docker-save archive as a
  chunk iterator, generated on the fly in constant memory (speed and memory tests).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


class Image(NamedTuple):
    layers: Sequence[Sequence[Any]]
    config: Optional[Mapping[str, Any]] = None
    platform: str = "linux/amd64"
    history: Optional[Sequence[Any]] = None
    tag: str = "sm-lint-test:latest"
    compression: str = "none"
    image_config: Optional[Mapping[str, Any]] = None


def symlink(path: str, target: str) -> Tuple[str, str, None, str]:
    return (path, "symlink", None, target)


def hardlink(path: str, target: str) -> Tuple[str, str, None, str]:
    return (path, "hardlink", None, target)


# -- layers ------------------------------------------------------------------------------------

_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE,
          "block": tarfile.BLKTYPE}


def _entry(spec: Any) -> Tuple[tarfile.TarInfo, bytes]:
    if isinstance(spec, tuple) and spec and isinstance(spec[0], tarfile.TarInfo):
        return spec[0], spec[1] if len(spec) > 1 else b""
    if isinstance(spec, str):
        spec = (spec, "dir") if spec.endswith("/") else (spec, "file")
    path, kind = spec[0], spec[1]
    data = spec[2] if len(spec) > 2 else None
    link = spec[3] if len(spec) > 3 else ""
    mode = spec[4] if len(spec) > 4 else None  # permission bits; default 0755 for folders, 0644 for the rest
    if kind == "symlink" and not link and isinstance(data, str):
        data, link = None, data  # ("a", "symlink", "target") reads naturally too
    if kind in ("whiteout", "opaque"):
        head, _, base = path.rstrip("/").rpartition("/")
        if kind == "whiteout":
            path = f"{head}/.wh.{base}" if head else f".wh.{base}"
        else:
            path = f"{path.rstrip('/')}/.wh..wh..opq"
        kind = "file"
    payload = data.encode() if isinstance(data, str) else bytes(data) if isinstance(data, int) else (data or b"")
    info = tarfile.TarInfo(path.rstrip("/") if kind == "dir" and path not in ("/", "./") else path)
    info.type = _TYPES[kind]
    info.mode = mode if mode is not None else 0o755 if kind == "dir" else 0o644
    info.linkname = link
    info.size = len(payload) if kind == "file" else 0
    return info, payload if kind == "file" else b""


def layer_tar(entries: Iterable[Any]) -> bytes:
    """An uncompressed layer tar (PAX format, as Go's writer produces for long names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in entries:
            info, payload = _entry(spec)
            tar.addfile(info, io.BytesIO(payload) if payload else None)
    return buf.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip_bytes(data)
    if compression == "zstd":
        return zstd_bytes(data)
    return data


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zstd_bytes(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- config ------------------------------------------------------------------------------------

def config_document(image: Image, diff_ids: Sequence[str]) -> Dict[str, Any]:
    parts = image.platform.split("/")
    history = image.history
    if history is None:
        history = [f"layer {n}" for n in range(len(image.layers))]
    document: Dict[str, Any] = {
        "architecture": parts[1], "os": parts[0],
        "config": dict(image.config or {}),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [h if isinstance(h, dict) else {"created_by": h} for h in history],
    }
    if len(parts) > 2:
        document["variant"] = parts[2]
    document.update(image.image_config or {})
    return document


def _dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# -- archives -----------------------------------------------------------------------------------

def tar_bytes(members: Iterable[Tuple[str, Any]]) -> bytes:
    """A plain tar of (name, bytes) members in the given order; bytes None for a directory,
    a ("symlink", target) pair for a link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.type = tarfile.SYMTYPE if data[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker_save_members(images: Any) -> List[Tuple[str, Any]]:
    """The members of a legacy docker-save tar, in Docker 20.10's order (sorted, manifest last)."""
    images = [images] if isinstance(images, Image) else list(images)
    files: Dict[str, Any] = {}
    manifest, repositories = [], {}
    for image in images:
        tars = [layer_tar(layer) for layer in image.layers]
        diff_ids = [sha256(t) for t in tars]
        config = _dump(config_document(image, diff_ids))
        config_name = f"{hashlib.sha256(config).hexdigest()}.json"
        files[config_name] = config
        paths, parent, first = [], "", {}
        for number, (tar, diff_id) in enumerate(zip(tars, diff_ids)):
            layer_id = hashlib.sha256(f"{parent} {diff_id} {image.tag} {number}".encode()).hexdigest()
            parent = layer_id
            files[f"{layer_id}/"] = None
            files[f"{layer_id}/VERSION"] = b"1.0"
            files[f"{layer_id}/json"] = _dump({"id": layer_id})
            if diff_id in first:  # Docker links a repeated layer to its first copy
                files[f"{layer_id}/layer.tar"] = ("symlink", f"../{first[diff_id]}/layer.tar")
            else:
                first[diff_id] = layer_id
                files[f"{layer_id}/layer.tar"] = compress(tar, image.compression)
            paths.append(f"{layer_id}/layer.tar")
        manifest.append({"Config": config_name, "RepoTags": [image.tag] if image.tag else None, "Layers": paths})
        repo, _, tag = image.tag.rpartition(":")
        if repo:
            repositories.setdefault(repo, {})[tag] = parent
    members = sorted(files.items())
    members += [("manifest.json", _dump(manifest)), ("repositories", _dump(repositories))]
    return members


def docker_save(images: Any) -> bytes:
    """A legacy docker-save archive (Docker < 25) of one image or several."""
    return tar_bytes(docker_save_members(images))


def oci_files(images: Any, *, docker25: bool = False, attestations: bool = False,
              nested: Optional[bool] = None, platforms_in_index: bool = True) -> Dict[str, bytes]:
    """The files of an OCI image layout, path -> bytes (index.json, oci-layout, blobs/sha256/...).

    One image: index.json names its manifest directly. Several: index.json names an image index
    (buildx's layout) unless nested=False, which lists the manifests in index.json itself."""
    images = [images] if isinstance(images, Image) else list(images)
    blobs: Dict[str, bytes] = {}

    def blob(data: bytes) -> Dict[str, Any]:
        blobs[f"blobs/sha256/{hashlib.sha256(data).hexdigest()}"] = data
        return {"digest": sha256(data), "size": len(data)}

    descriptors, compat = [], []
    for image in images:
        tars = [layer_tar(layer) for layer in image.layers]
        config = _dump(config_document(image, [sha256(t) for t in tars]))
        layers = [dict(blob(compress(t, image.compression)), mediaType=LAYER_TYPES[image.compression]) for t in tars]
        config_descriptor = dict(blob(config), mediaType=OCI_CONFIG)
        manifest = _dump({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_descriptor, "layers": layers})
        descriptor = dict(blob(manifest), mediaType=OCI_MANIFEST)
        if platforms_in_index:
            parts = image.platform.split("/")
            descriptor["platform"] = {"os": parts[0], "architecture": parts[1], **({"variant": parts[2]} if len(parts) > 2 else {})}
        descriptors.append(descriptor)
        compat.append({"Config": f"blobs/sha256/{config_descriptor['digest'][7:]}", "RepoTags": [image.tag],
                       "Layers": [f"blobs/sha256/{d['digest'][7:]}" for d in layers]})
        if attestations:
            statement = _dump({"_type": "https://in-toto.io/Statement/v0.1"})
            att_layer = dict(blob(statement), mediaType="application/vnd.in-toto+json")
            att_config = dict(blob(b"{}"), mediaType="application/vnd.oci.image.config.v1+json")
            att = _dump({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": att_config, "layers": [att_layer]})
            descriptors.append(dict(blob(att), mediaType=OCI_MANIFEST,
                                    platform={"os": "unknown", "architecture": "unknown"},
                                    annotations={"vnd.docker.reference.type": "attestation-manifest",
                                                 "vnd.docker.reference.digest": descriptor["digest"]}))
    tag = images[0].tag
    names = {"io.containerd.image.name": f"docker.io/library/{tag}", "org.opencontainers.image.ref.name": tag.rpartition(":")[2]}
    if nested is None:
        nested = len(descriptors) > 1
    if nested:
        inner = _dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
        top = [dict(blob(inner), mediaType=OCI_INDEX, annotations=names)]
    else:
        top = [dict(d, annotations=dict(d.get("annotations", {}), **names)) if n == 0 else d
               for n, d in enumerate(descriptors)]
    files = dict(sorted(blobs.items()))
    files["index.json"] = _dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top})
    files["oci-layout"] = _dump({"imageLayoutVersion": "1.0.0"})
    if docker25:
        files["manifest.json"] = _dump(compat[:1])
        files["repositories"] = _dump({})
    return files


def oci_tar(images: Any, **options: Any) -> bytes:
    """An OCI layout as one tar (docker buildx --output type=oci, skopeo oci-archive, Docker 25 save)."""
    files = oci_files(images, **options)
    members: List[Tuple[str, Any]] = [("blobs/", None), ("blobs/sha256/", None)]
    members += [(path, data) for path, data in files.items()]
    return tar_bytes(members)


def write_oci_dir(root: Any, images: Any, **options: Any) -> str:
    import os

    for path, data in oci_files(images, **options).items():
        target = os.path.join(str(root), *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)
    return str(root)


def write_image(path: Any, layers: Sequence[Sequence[Any]], config: Optional[Mapping[str, Any]] = None, *,
                fmt: str = "docker-save", **image: Any) -> str:
    """One image on disk: fmt "docker-save", "docker-save.gz", "oci" (tar), "oci-dir", "docker25"."""
    spec = Image(layers, config, **image)
    if fmt == "oci-dir":
        return write_oci_dir(path, spec)
    data = {"docker-save": lambda: docker_save(spec), "docker-save.gz": lambda: gzip_bytes(docker_save(spec)),
            "oci": lambda: oci_tar(spec), "docker25": lambda: oci_tar(spec, docker25=True)}[fmt]()
    with open(str(path), "wb") as handle:
        handle.write(data)
    return str(path)


# -- big synthetic archives, streamed -----------------------------------------------------------------

def _ustar(name: str, size: int, typeflag: bytes = b"0") -> bytes:
    raw = name.encode()
    prefix = b""
    if len(raw) > 100:
        cut = raw.rindex(b"/", 0, 156)
        prefix, raw = raw[:cut], raw[cut + 1:]
    header = bytearray(512)
    header[0:len(raw)] = raw
    header[100:108] = b"0000644\0"
    header[108:116] = b"0000000\0"
    header[116:124] = b"0000000\0"
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"00000000000\0"
    header[148:156] = b" " * 8
    header[156:157] = typeflag
    header[257:265] = b"ustar\x0000"
    header[345:345 + len(prefix)] = prefix
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _pad(size: int) -> int:
    return -size % 512


def synthetic_layer_size(files: int, file_size: int, dirs: int) -> int:
    per_file = 512 + file_size + _pad(file_size)
    return dirs * 512 + files * per_file + 1024


def synthetic_layer(files: int, file_size: int, layer: int, dirs_of: int = 100) -> Iterator[bytes]:
    """An uncompressed layer tar: `files` files of `file_size` bytes in files//dirs_of directories."""
    body = bytes(file_size) + bytes(_pad(file_size))
    batch: List[bytes] = []
    for number in range(files):
        if number % dirs_of == 0:
            batch.append(_ustar(f"usr/share/layer{layer}/d{number // dirs_of:06d}/", 0, b"5"))
        batch.append(_ustar(f"usr/share/layer{layer}/d{number // dirs_of:06d}/file{number:08d}.dat", file_size))
        batch.append(body)
        if len(batch) >= 512:
            yield b"".join(batch)
            batch.clear()
    batch.append(bytes(1024))
    yield b"".join(batch)


def synthetic_docker_save(files_per_layer: int, file_size: int, layers: int = 1,
                          config: Optional[Mapping[str, Any]] = None) -> Iterator[bytes]:
    """A legacy docker-save archive, generated as it is read, in constant memory."""
    diff_ids, paths = [], []
    for layer in range(layers):
        dirs = -(-files_per_layer // 100)
        size = synthetic_layer_size(files_per_layer, file_size, dirs)
        layer_id = hashlib.sha256(b"layer %d" % layer).hexdigest()
        yield _ustar(f"{layer_id}/layer.tar", size)
        digest = hashlib.sha256()
        for chunk in synthetic_layer(files_per_layer, file_size, layer):
            digest.update(chunk)
            yield chunk
        yield bytes(_pad(size))
        diff_ids.append("sha256:" + digest.hexdigest())
        paths.append(f"{layer_id}/layer.tar")
    document = config_document(Image([[]] * layers, config), diff_ids)
    data = _dump(document)
    name = f"{hashlib.sha256(data).hexdigest()}.json"
    manifest = _dump([{"Config": name, "RepoTags": ["synthetic:latest"], "Layers": paths}])
    for member, payload in ((name, data), ("manifest.json", manifest)):
        yield _ustar(member, len(payload)) + payload + bytes(_pad(len(payload)))
    yield bytes(1024)
