"""Turn a legacy `docker save` tar (what Docker 20.10 writes) into an OCI image layout tar.

Docker 25+ and `buildx --output type=oci` write OCI layouts, but the engine on this machine cannot,
so the tests convert its real archives: the same config and layer bytes, rewrapped as
`oci-layout`, `index.json` and `blobs/sha256/<digest>` (config, manifest, layers), as skopeo's
`docker-archive:` -> `oci-archive:` copy does. Layers can be gzip-compressed on the way (the
config's diff_ids stay the digests of the uncompressed tars, as the OCI spec requires).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {"none": "application/vnd.oci.image.layer.v1.tar",
             "gzip": "application/vnd.oci.image.layer.v1.tar+gzip"}


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    handle = archive.extractfile(name)  # follows Docker's symlinks for repeated layers
    if handle is None:
        raise ValueError(f"{name} is not a file in the docker-save archive")
    return handle.read()


def docker_save_to_oci(saved: Union[str, Path], target: Union[str, Path], compression: str = "none") -> Path:
    """Write the OCI layout tar of the (single) image in the docker-save tar `saved` to `target`."""
    if compression not in OCI_LAYER:
        raise ValueError(f"compression {compression!r}: expected one of {sorted(OCI_LAYER)}")
    blobs: Dict[str, bytes] = {}

    def blob(data: bytes, media_type: str) -> Dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[f"blobs/sha256/{digest}"] = data
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    with tarfile.open(str(saved)) as archive:
        manifest = json.loads(_read(archive, "manifest.json"))
        if len(manifest) != 1:
            raise ValueError(f"expected one image in {saved}, found {len(manifest)}")
        entry = manifest[0]
        config = _read(archive, entry["Config"])
        layers: List[Dict[str, Any]] = []
        for name in entry["Layers"]:
            data = _read(archive, name)
            if compression == "gzip":
                data = gzip.compress(data, compresslevel=6, mtime=0)
            layers.append(blob(data, OCI_LAYER[compression]))

    document = json.loads(config)
    platform = {"architecture": document["architecture"], "os": document["os"]}
    if document.get("variant"):
        platform["variant"] = document["variant"]
    image_manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                 "config": blob(config, OCI_CONFIG), "layers": layers}).encode()
    descriptor = dict(blob(image_manifest, OCI_MANIFEST), platform=platform)
    tags = entry.get("RepoTags") or []
    if tags:
        descriptor["annotations"] = {"io.containerd.image.name": tags[0],
                                     "org.opencontainers.image.ref.name": tags[0].rpartition(":")[2]}
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [descriptor]}).encode()

    members: List[Tuple[str, Optional[bytes]]] = [("blobs", None), ("blobs/sha256", None)]
    members += sorted(blobs.items())
    members += [("index.json", index), ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())]
    with tarfile.open(str(target), "w", format=tarfile.PAX_FORMAT) as out:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if payload is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                out.addfile(info)
            else:
                info.size, info.mode = len(payload), 0o644
                out.addfile(info, io.BytesIO(payload))
    return Path(target)
