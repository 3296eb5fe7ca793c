"""Local folders of the request (`--job-input DIR:...`, `--job-output ...:DIR`, file:// URIs of a
job file) through S3, since a real job reads and writes S3 only: inputs are uploaded under
`--s3-prefix` before the jobs are created, outputs are written by the job under it and downloaded
into their folders afterwards (only inside them: a key that would lead out is refused). What
sm-lint put under the prefix is deleted at the end; real S3 URIs are the user's and left alone.
"""
from __future__ import annotations

import os
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple

from sm_lint.errors import UsageError
from sm_lint.harness.jobspec import local_dir_of
from sm_lint.harness.sagemaker.aws import call


class S3Place(NamedTuple):
    bucket: str
    key: str  # no leading or trailing slash; "" for the bucket's root

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def child(self, *parts: str) -> "S3Place":
        return S3Place(self.bucket, "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/")))


class Download(NamedTuple):
    name: str  # OutputName
    place: S3Place
    local_dir: str


def parse_s3(uri: str, flag: str = "--s3-prefix") -> S3Place:
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise UsageError(f"{flag} {uri!r}: expected s3://BUCKET[/PREFIX]")
    bucket, _, key = uri[5:].partition("/")
    return S3Place(bucket, key.strip("/"))


def local_folders(request: Mapping[str, Any]) -> Iterator[Tuple[str, str]]:
    """(field path, local folder) of every file:// input and output."""
    for index, item in enumerate(request.get("ProcessingInputs") or []):
        local = local_dir_of((item.get("S3Input") or {}).get("S3Uri") or "")
        if local is not None:
            yield f"ProcessingInputs[{index}].S3Input.S3Uri", local
    for index, item in enumerate((request.get("ProcessingOutputConfig") or {}).get("Outputs") or []):
        local = local_dir_of((item.get("S3Output") or {}).get("S3Uri") or "")
        if local is not None:
            yield f"ProcessingOutputConfig.Outputs[{index}].S3Output.S3Uri", local


def check(request: Mapping[str, Any], s3_prefix: Optional[str]) -> Optional[S3Place]:
    """Before any work: local folders need --s3-prefix; a given prefix must be an S3 URI."""
    place = parse_s3(s3_prefix) if s3_prefix else None
    if place is None:
        for where, local in local_folders(request):
            raise UsageError(f"{where}: the local folder {local} must go through S3 on the sagemaker engine: "
                             "give --s3-prefix s3://BUCKET/PREFIX (sm-lint stages it there and deletes it afterwards)")
    return place


def upload_inputs(s3: Any, request: Dict[str, Any], place: S3Place) -> Tuple[Dict[str, Any], List[S3Place], int]:
    """The request with every file:// input uploaded under `place`/input/NAME; what was written."""
    staged = deepcopy(request)
    written: List[S3Place] = []
    count = 0
    for item in staged.get("ProcessingInputs") or []:
        s3_input = item.get("S3Input") or {}
        local = local_dir_of(s3_input.get("S3Uri") or "")
        if local is None:
            continue
        target = place.child("input", str(item.get("InputName") or "input"))
        for path, relative in _files(Path(local)):
            key = target.child(relative)
            call(lambda: s3.upload_file(str(path), key.bucket, key.key), "s3", "PutObject")
            count += 1
        written.append(target)
        s3_input["S3Uri"] = target.uri + "/"
    return staged, written, count


def place_outputs(request: Dict[str, Any], place: S3Place) -> Tuple[Dict[str, Any], List[Download]]:
    """The request with every file:// output written by the job under `place`/output/NAME."""
    placed = deepcopy(request)
    downloads: List[Download] = []
    for item in (placed.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        s3_output = item.get("S3Output") or {}
        local = local_dir_of(s3_output.get("S3Uri") or "")
        if local is None:
            continue
        name = str(item.get("OutputName") or "output")
        target = place.child("output", name)
        s3_output["S3Uri"] = target.uri
        downloads.append(Download(name, target, local))
    return placed, downloads


def download(s3: Any, item: Download) -> Tuple[int, List[str]]:
    """The objects under the output's place, into its folder: (files written, keys refused)."""
    written, refused = 0, []
    root = Path(item.local_dir).resolve()
    for key in list_keys(s3, item.place):
        relative = PurePosixPath(key[len(item.place.key):].lstrip("/"))
        target = (root / relative).resolve()
        if not relative.parts or ".." in relative.parts or not str(target).startswith(str(root) + os.sep):
            refused.append(key)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        call(lambda: s3.download_file(item.place.bucket, key, str(target)), "s3", "GetObject")
        written += 1
    return written, refused


def delete(s3: Any, places: List[S3Place]) -> int:
    """Every object under each place (what sm-lint staged); the count."""
    removed = 0
    for place in places:
        keys = list_keys(s3, place)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys a call
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            call(lambda: s3.delete_objects(Bucket=place.bucket, Delete={"Objects": batch, "Quiet": True}),
                 "s3", "DeleteObject")
            removed += len(batch)
    return removed


def list_keys(s3: Any, place: S3Place) -> List[str]:
    keys: List[str] = []
    prefix = place.key + "/" if place.key else ""
    for page in call(lambda: list(s3.get_paginator("list_objects_v2").paginate(Bucket=place.bucket, Prefix=prefix)),
                     "s3", "ListBucket"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _files(root: Path) -> Iterator[Tuple[Path, str]]:
    """Regular files under a folder with their relative POSIX paths. S3 has no links: a link to a
    file is uploaded as the file it points to; a link to a folder is not followed (os.walk)."""
    if not root.is_dir():
        raise UsageError(f"{root}: input folder does not exist or is not a folder")
    for folder, dirnames, names in os.walk(root):
        dirnames.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                yield path, path.relative_to(root).as_posix()
