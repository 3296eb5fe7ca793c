"""sm_lint.image.archive: docker-save and OCI archives, streaming, whiteouts, hostile input."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from image_archives import (  # noqa: E402
    Image, docker_save, docker_save_members, gzip_bytes, hardlink, layer_tar, oci_files, oci_tar, sha256, symlink,
    tar_bytes, write_image, write_oci_dir, zstd_bytes,
)
from sm_lint.errors import UsageError  # noqa: E402
from sm_lint.image.archive import ArchiveError, Limits, read_archive, read_stream  # noqa: E402
from sm_lint.image.layers import normalise  # noqa: E402
from sm_lint.image.model import FileEntry, ImageView  # noqa: E402

BASE = Image(
    layers=[
        ["opt/", "opt/ml/", ("opt/ml/code/run.py", "file", "print('hi')\n"), "usr/", "usr/bin/",
         ("usr/bin/python3", "file", 1000), symlink("usr/bin/python", "python3"), "etc/old.conf", "var/cache/",
         "var/cache/a", "var/cache/b/c"],
        [("etc/old.conf", "whiteout"), ("var/cache", "opaque"), ("var/cache/new", "file", b"n"),
         hardlink("usr/bin/py3", "usr/bin/python3")],
    ],
    config={"Entrypoint": ["python3", "/opt/ml/code/run.py"], "Cmd": ["--x"], "Env": ["PATH=/usr/bin", "EMPTY"],
            "WorkingDir": "/opt/ml", "User": "1000", "Labels": {"a": "b"}},
    history=["ADD rootfs /", {"created_by": "ENV A=1", "empty_layer": True}, "RUN cleanup"],
)


def stream(data: bytes, size: int = 1 << 20) -> List[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def paths(view: ImageView) -> Dict[str, str]:
    return {path: entry.kind for path, entry in view.files.items()}


def expect_error(data: bytes, *fragments: str, **kwargs: Any) -> str:
    with pytest.raises(ArchiveError) as caught:
        read_stream(stream(data), "x.tar", **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("x.tar: ")
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- formats ---------------------------------------------------------------------------------------

FORMATS = {
    "docker-save": lambda image: docker_save(image),
    "docker-save.gz": lambda image: gzip_bytes(docker_save(image)),
    "docker-save.zst": lambda image: zstd_bytes(docker_save(image)),
    "oci": lambda image: oci_tar(image),
    "oci-gzip-layers": lambda image: oci_tar(image._replace(compression="gzip")),
    "oci-zstd-layers": lambda image: oci_tar(image._replace(compression="zstd")),
    "docker25": lambda image: oci_tar(image, docker25=True),
    "oci.tar.gz": lambda image: gzip_bytes(oci_tar(image)),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_gives_the_same_view(fmt: str) -> None:
    view = read_stream(stream(FORMATS[fmt](BASE)), "img.tar")
    assert paths(view) == {
        "/opt": "dir", "/opt/ml": "dir", "/opt/ml/code": "dir", "/opt/ml/code/run.py": "file", "/usr": "dir",
        "/usr/bin": "dir", "/usr/bin/python3": "file", "/usr/bin/python": "symlink", "/usr/bin/py3": "hardlink",
        "/etc": "dir", "/var": "dir", "/var/cache": "dir", "/var/cache/new": "file",
    }
    files = view.files
    assert files["/opt/ml/code/run.py"] == FileEntry("/opt/ml/code/run.py", "file", 12, 0)
    assert files["/usr/bin/python3"].size == 1000
    assert files["/usr/bin/python"].link == "python3"
    assert files["/usr/bin/py3"] == FileEntry("/usr/bin/py3", "hardlink", 0, 1, "usr/bin/python3")
    assert files["/var/cache/new"].layer == 1
    config = view.config
    assert config.entrypoint == ("python3", "/opt/ml/code/run.py") and config.cmd == ("--x",)
    assert config.env == (("PATH", "/usr/bin"), ("EMPTY", ""))
    assert (config.working_dir, config.user, config.labels) == ("/opt/ml", "1000", (("a", "b"),))
    assert (config.os, config.architecture, config.variant, config.shell) == ("linux", "amd64", "", None)
    assert [layer.created_by for layer in view.layers] == ["ADD rootfs /", "RUN cleanup"]
    assert [layer.index for layer in view.layers] == [0, 1]
    assert [layer.digest for layer in view.layers] == [sha256(layer_tar(layer)) for layer in BASE.layers]
    assert list(config.diff_ids) == [layer.digest for layer in view.layers]
    assert view.source == "img.tar"
    assert view.reference in ("sm-lint-test:latest", "docker.io/library/sm-lint-test:latest")


def test_read_archive_files_and_directories(tmp_path: Path) -> None:
    expected = paths(read_stream([docker_save(BASE)], "s"))
    for fmt in ("docker-save", "docker-save.gz", "oci", "docker25"):
        target = write_image(tmp_path / f"img.{fmt}", BASE.layers, BASE.config, fmt=fmt, history=BASE.history)
        assert paths(read_archive(target)) == expected, fmt
    directory = write_oci_dir(tmp_path / "layout", BASE)
    view = read_archive(directory)
    assert paths(view) == expected and view.source == directory


@pytest.mark.parametrize("size", [1, 7, 511, 512, 513, 4096])
def test_any_chunking_of_the_stream(size: int) -> None:
    small = Image([[("a/b", "file", b"x" * 700), "a/c/"], [("a/b", "whiteout")]])
    for data in (docker_save(small), gzip_bytes(oci_tar(small._replace(compression="zstd")))):
        assert paths(read_stream(stream(data, size), "s")) == {"/a": "dir", "/a/c": "dir"}


def test_non_bytes_chunks_and_a_generator() -> None:
    data = docker_save(BASE)
    view = read_stream((bytearray(c) for c in stream(data, 1000)), "gen")
    assert "/opt/ml/code/run.py" in view.files


def test_docker_save_stream_puts_the_manifest_last_and_links_repeated_layers() -> None:
    same = ["x/", ("x/f", "file", b"1")]
    image = Image([same, [("y", "file", b"2")], same])
    names = [name for name, _ in docker_save_members(image)]
    assert names[-2:] == ["manifest.json", "repositories"]
    view = read_stream([docker_save(image)], "s")
    assert len(view.layers) == 3 and view.files["/x/f"].layer == 2


def test_media_type_may_lie_magic_bytes_decide() -> None:
    files = oci_files(BASE._replace(compression="gzip"))
    for name, data in list(files.items()):
        if name.startswith("blobs/") and b'"layers"' in data:
            files[name] = data.replace(b"tar+gzip", b"tar")  # changes the manifest digest: rewrite it
            new = "blobs/sha256/" + hashlib.sha256(files[name]).hexdigest()
            old_digest, new_digest = name.rsplit("/", 1)[1], new.rsplit("/", 1)[1]
            files[new] = files.pop(name)
            files["index.json"] = files["index.json"].replace(old_digest.encode(), new_digest.encode()).replace(
                b'"size":%d' % len(data), b'"size":%d' % len(files[new]))
    view = read_stream([tar_bytes(files.items())], "s")
    assert "/var/cache/new" in view.files


def test_xz_and_bzip2_layers_are_read_by_magic() -> None:
    import bz2
    import lzma

    tar = layer_tar([("f", "file", b"z")])
    for packed in (lzma.compress(tar), bz2.compress(tar)):
        image = Image([[("f", "file", b"z")]])
        members = docker_save_members(image)
        members = [(n, packed if n.endswith("layer.tar") else d) for n, d in members]
        assert paths(read_stream([tar_bytes(members)], "s")) == {"/f": "file"}


# -- whiteouts -------------------------------------------------------------------------------------

def view_of(*layers: List[Any]) -> Dict[str, FileEntry]:
    return read_stream([docker_save(Image(list(layers)))], "s").files


def test_whiteout_of_a_directory_removes_its_subtree() -> None:
    files = view_of(["a/", "a/b/", "a/b/c", "a/keep"], [("a/b", "whiteout")])
    assert sorted(files) == ["/a", "/a/keep"]


def test_opaque_hides_lower_contents_but_keeps_its_own() -> None:
    files = view_of(["d/", "d/old", "d/sub/", "d/sub/x"], ["d/", ("d", "opaque"), "d/new"])
    assert sorted(files) == ["/d", "/d/new"] and files["/d"].layer == 1


def test_root_opaque_hides_every_lower_layer() -> None:
    files = view_of(["a", "b/"], [("/", "opaque"), "c"])
    assert sorted(files) == ["/c"]


def test_deleted_then_readded_path_is_present_from_the_later_layer() -> None:
    files = view_of(["a/", "a/f"], [("a/f", "whiteout")], ["a/", ("a/f", "file", b"new")])
    assert files["/a/f"] == FileEntry("/a/f", "file", 3, 2)


def test_added_then_deleted_path_is_absent() -> None:
    files = view_of(["x"], ["y"], [("y", "whiteout")])
    assert sorted(files) == ["/x"]


def test_whiteout_applies_to_lower_layers_only() -> None:
    files = view_of(["a"], [("a", "whiteout"), ("a2", "file")])
    assert sorted(files) == ["/a2"]


def test_upper_file_replacing_a_directory_hides_its_contents_for_good() -> None:
    files = view_of(["d/", "d/inner"], [("d", "file", b"f")], ["d/", "d/other"])
    assert sorted(files) == ["/d", "/d/other"]
    files = view_of(["lib/", "lib/x.so"], [symlink("lib", "usr/lib")])
    assert sorted(files) == ["/lib"] and files["/lib"].kind == "symlink"


def test_later_layer_wins_and_records_its_index() -> None:
    files = view_of([("f", "file", b"1")], [("f", "file", b"22")], [])
    assert files["/f"] == FileEntry("/f", "file", 2, 1)


def test_implied_parent_directories_are_listed() -> None:
    files = view_of([("a/b/c/file", "file", b"x")])
    assert [files[p].kind for p in ("/a", "/a/b", "/a/b/c")] == ["dir"] * 3
    files = view_of(["etc/x"], [("etc/x", "whiteout")])
    assert sorted(files) == ["/etc"]


def test_aufs_metadata_is_not_part_of_the_view() -> None:
    files = view_of(["a"], [".wh..wh.plnk/", ".wh..wh.plnk/123.4"])
    assert sorted(files) == ["/a"]


@pytest.mark.parametrize("name,expected", [
    ("./opt/ml/x", "/opt/ml/x"), ("opt//ml/./x/", "/opt/ml/x"), ("/abs/path", "/abs/path"),
    ("/../x", "/x"), ("a/../b", "/b"), (".", None), ("./", None), ("/", None), (".hidden", "/.hidden"),
])
def test_normalise(name: str, expected: Any) -> None:
    assert normalise(name) == expected


# -- platforms -------------------------------------------------------------------------------------

AMD = Image([["amd"]], platform="linux/amd64", tag="multi:1")
ARM = Image([["arm"]], platform="linux/arm64/v8", tag="multi:1")
ARM7 = Image([["arm7"]], platform="linux/arm/v7", tag="multi:1")


def test_multi_platform_index_defaults_to_linux_amd64() -> None:
    for data in (oci_tar([ARM, AMD], attestations=True), oci_tar([ARM, AMD], nested=False)):
        view = read_stream([data], "s")
        assert "/amd" in view.files
        assert view.platforms == ("linux/arm64", "linux/amd64")


def test_platform_argument_chooses() -> None:
    data = oci_tar([AMD, ARM, ARM7])
    assert "/arm" in read_stream([data], "s", platform="linux/arm64").files
    assert "/arm" in read_stream([data], "s", platform="linux/aarch64/v8").files
    assert "/arm7" in read_stream([data], "s", platform="linux/arm/v7").files


def test_absent_platform_lists_the_available_ones() -> None:
    expect_error(oci_tar([ARM, ARM7], attestations=True), "no image for linux/amd64",
                 "offers linux/arm64, linux/arm/v7")


def test_single_image_is_read_whatever_its_platform() -> None:
    view = read_stream([oci_tar(ARM)], "s")
    assert (view.config.architecture, view.platforms) == ("arm64", ("linux/arm64",))
    assert read_stream([docker_save(ARM)], "s").config.architecture == "arm64"


def test_index_without_platforms_takes_them_from_the_configs() -> None:
    data = oci_tar([ARM, AMD], nested=False, platforms_in_index=False)
    assert "/amd" in read_stream([data], "s").files


def test_docker25_index_naming_a_platform_it_did_not_save() -> None:
    files = oci_files([AMD, ARM], docker25=True)
    arm_config = json.dumps(json.loads(files["index.json"]))  # keep index as is, drop arm's manifest blob
    del arm_config
    index = json.loads(files["index.json"])
    nested = json.loads(files["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
    arm_manifest = nested["manifests"][1]["digest"][7:]
    del files["blobs/sha256/" + arm_manifest]
    view = read_stream([tar_bytes(files.items())], "s", platform="linux/arm64")
    assert "/amd" in view.files and view.platforms == ("linux/amd64",)
    assert view.reference == "docker.io/library/multi:1"


def test_two_images_for_one_platform_are_ambiguous() -> None:
    expect_error(docker_save([Image([["a"]], tag="a:1"), Image([["b"]], tag="b:1")]),
                 "2 different images for linux/amd64", "a:1, b:1")


def test_docker_save_of_two_platforms_picks_by_config() -> None:
    view = read_stream([docker_save([ARM, AMD])], "s")
    assert "/amd" in view.files


def test_invalid_platform_argument() -> None:
    error = expect_error(docker_save(AMD), "invalid platform", platform="linux/")
    assert isinstance(ArchiveError(error), UsageError)


# -- hostile input ---------------------------------------------------------------------------------

def save_with_layer(raw_layer: bytes, image: Image = Image([["f"]])) -> bytes:
    """A docker-save archive whose layer bytes are replaced (the config keeps the raw diff_id)."""
    members = docker_save_members(image)
    config = json.loads(next(d for n, d in members if n.endswith(".json") and "/" not in n and n != "manifest.json"))
    config["rootfs"]["diff_ids"] = [sha256(raw_layer)]
    data = json.dumps(config).encode()
    name = hashlib.sha256(data).hexdigest() + ".json"
    out = []
    for member, payload in members:
        if member.endswith(".json") and "/" not in member and member != "manifest.json":
            member, payload = name, data
        elif member.endswith("layer.tar"):
            payload = raw_layer
        elif member == "manifest.json":
            entries = json.loads(payload)
            entries[0]["Config"] = name
            payload = json.dumps(entries).encode()
        out.append((member, payload))
    return tar_bytes(out)


def raw_layer(*members: Any) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0) -> tarfile.TarInfo:
    item = tarfile.TarInfo(name)
    item.type, item.linkname, item.size = kind, link, size
    return item


def test_member_climbing_out_of_the_root_is_refused() -> None:
    expect_error(save_with_layer(raw_layer((info("../../etc/passwd"), b""))), "climbs out of the image root")
    expect_error(save_with_layer(raw_layer((info("a/../../x"), b""))), "climbs out")


def test_absolute_member_names_stay_inside_the_root() -> None:
    view = read_stream([save_with_layer(raw_layer((info("/etc/passwd"), b""), (info("/../../x"), b"")))], "s")
    assert sorted(view.files) == ["/etc", "/etc/passwd", "/x"]


def test_links_pointing_outside_are_recorded_never_followed() -> None:
    layer = raw_layer((info("evil", tarfile.SYMTYPE, "../../../../etc/shadow"), b""),
                      (info("abs", tarfile.SYMTYPE, "/etc/shadow"), b""),
                      (info("hard", tarfile.LNKTYPE, "../../outside"), b""))
    files = read_stream([save_with_layer(layer)], "s").files
    assert files["/evil"].link == "../../../../etc/shadow" and files["/hard"].link == "../../outside"
    assert files["/abs"].kind == "symlink"


def test_missing_or_corrupt_documents() -> None:
    members = docker_save_members(BASE)
    without = [(n, d) for n, d in members if n != "manifest.json"]
    expect_error(tar_bytes(without), "no manifest.json")
    expect_error(tar_bytes([(n, d) for n, d in without if n != "repositories"]), "neither manifest.json")
    expect_error(tar_bytes([(n, b"[{" if n == "manifest.json" else d) for n, d in members]),
                 "manifest.json is not valid JSON")
    expect_error(tar_bytes([(n, b"{}" if n == "manifest.json" else d) for n, d in members]), "manifest.json")
    expect_error(tar_bytes([(n, d) for n, d in members if not (n.endswith(".json") and "/" not in n
                                                              and n != "manifest.json")]), "missing")
    deep = b"[" * 100000 + b"]" * 100000
    expect_error(tar_bytes([(n, deep if n == "manifest.json" else d) for n, d in members]), "not valid JSON")


def test_corrupt_config_is_caught_by_its_digest_and_its_shape() -> None:
    members = docker_save_members(BASE)
    config_name = next(n for n, _ in members if n.endswith(".json") and "/" not in n and n != "manifest.json")
    tampered = [(n, d.replace(b"python3", b"python4") if n == config_name else d) for n, d in members]
    expect_error(tar_bytes(tampered), "does not match its digest")
    bad = json.dumps({"config": {"Entrypoint": "python"}, "rootfs": {"diff_ids": []}}).encode()
    name = hashlib.sha256(bad).hexdigest() + ".json"
    entries = json.dumps([{"Config": name, "Layers": []}]).encode()
    expect_error(tar_bytes([(name, bad), ("manifest.json", entries)]), "Entrypoint is not a list of strings")


def test_oci_documents_missing_or_corrupt() -> None:
    files = oci_files(BASE)
    expect_error(tar_bytes([(n, b"{" if n == "index.json" else d) for n, d in files.items()]),
                 "index.json is not valid JSON")
    expect_error(tar_bytes([(n, b'{"manifests": 3}' if n == "index.json" else d) for n, d in files.items()]),
                 "index.json has no manifests list")
    only_index = [(n, d) for n, d in files.items() if not n.startswith("blobs/")]
    expect_error(tar_bytes(only_index), "names no image manifest")
    bad_digest = b'{"manifests": [{"digest": "sha256:../../etc", "size": 1}]}'
    expect_error(tar_bytes([(n, bad_digest if n == "index.json" else d) for n, d in files.items()]),
                 "invalid digest")


def test_wrong_blob_digest_and_wrong_diff_id() -> None:
    files = oci_files(BASE)
    layer_name = next(n for n in files if b"print('hi')" in files[n])
    flipped = bytearray(files[layer_name])
    flipped[flipped.index(b"print('hi')")] ^= 1  # inside a file's data: still a valid tar
    tampered = dict(files, **{layer_name: bytes(flipped)})
    expect_error(tar_bytes(tampered.items()), "does not match its digest")
    image = Image([["f"]])
    members = [(n, layer_tar(["g"]) if n.endswith("layer.tar") else d) for n, d in docker_save_members(image)]
    expect_error(tar_bytes(members), "layer 0", "diff_id")


def test_size_mismatch_with_the_descriptor(tmp_path: Path) -> None:
    root = Path(write_oci_dir(tmp_path / "layout", BASE))
    blobs = sorted((root / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    with open(blobs[-1], "ab") as handle:
        handle.write(b"\0" * 512)
    with pytest.raises(ArchiveError, match="larger than its descriptor|descriptor says"):
        read_archive(str(root))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_planted_as_a_blob_does_not_hang(tmp_path: Path) -> None:
    root = Path(write_oci_dir(tmp_path / "layout", BASE))
    blob = max((root / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    blob.unlink()
    os.mkfifo(blob)
    with pytest.raises(ArchiveError, match="not a regular file"):
        read_archive(str(root))


def test_truncated_archives() -> None:
    data = docker_save(Image([[("f", "file", b"x" * 5000)]]))
    manifest = data.index(b"manifest.json")
    for cut in (100, 700, 3000, manifest - 10, manifest + 520):
        expect_error(data[:cut], "truncated")
    gz = gzip_bytes(docker_save(BASE))
    expect_error(gz[: len(gz) // 2], "truncated")


def test_truncated_layer_inside_a_complete_archive() -> None:
    whole = layer_tar([("f", "file", b"x" * 5000)])
    expect_error(save_with_layer(whole[:3000]), "layer", "truncated")
    packed = gzip_bytes(whole)
    expect_error(save_with_layer(packed[: len(packed) - 9]), "truncated")
    import zstandard

    expect_error(save_with_layer(zstandard.ZstdCompressor().compress(whole)[:-30]), "layer")


def test_not_an_archive_at_all() -> None:
    expect_error(b"", "empty archive")
    expect_error(b"hello world" * 100, "not a tar stream")
    expect_error(os.urandom(4096), "x.tar: ")
    expect_error(gzip_bytes(b"plain text" * 100), "not a tar stream")
    expect_error(tar_bytes([("README", b"hi")]), "neither manifest.json")
    expect_error(save_with_layer(b"{not a layer}" * 100), "not a tar")


def test_gzip_decompression_bomb_stops_at_the_layer_limit() -> None:
    member = gzip.compress(bytes(1 << 20), compresslevel=9)  # ~1 KiB -> 1 MiB
    bomb_body = layer_tar([])  # tar header for one huge file, then zeros forever
    header = tarfile.TarInfo("zeros")
    header.size = 1 << 40
    bomb = gzip.compress(header.tobuf(tarfile.GNU_FORMAT)) + member * 4096  # 4 GiB from ~4 MiB
    del bomb_body
    started = time.monotonic()
    expect_error(save_with_layer(bomb), "decompression bomb", "SM_LINT_MAX_LAYER_BYTES",
                 limits=Limits(max_layer_bytes=64 << 20))
    assert time.monotonic() - started < 30


def test_zstd_bomb_stops_at_the_ratio_limit() -> None:
    import zstandard

    header = tarfile.TarInfo("zeros")
    header.size = 1 << 40
    compressor = zstandard.ZstdCompressor(level=19)
    frame = compressor.compress(bytes(16 << 20))  # concatenated frames: 256 MiB of zeros
    bomb = compressor.compress(header.tobuf(tarfile.GNU_FORMAT)) + frame * 16
    assert len(bomb) < 64 << 10
    expect_error(save_with_layer(bomb), "SM_LINT_MAX_RATIO", limits=Limits(max_ratio=100, ratio_slack=1 << 20))


def test_huge_pax_header_is_refused() -> None:
    item = tarfile.TarInfo("x")
    item.pax_headers = {"comment": "a" * (2 << 20)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(item)
    expect_error(save_with_layer(buf.getvalue()), "extended header larger than")


def test_long_names_pax_and_gnu() -> None:
    long = "d/" + "n" * 300
    gnu = raw_layer((info(long, size=3), b"abc"), (info("l", tarfile.SYMTYPE, "t" * 200), b""))
    files = read_stream([save_with_layer(gnu)], "s").files
    assert files["/" + long].size == 3 and files["/l"].link == "t" * 200
    pax = layer_tar([(long, "file", b"abc"), symlink("l", "t" * 200), ("é/ü", "file", b"")])
    files = read_stream([save_with_layer(pax)], "s").files
    assert files["/" + long].size == 3 and files["/l"].link == "t" * 200 and "/é/ü" in files


def test_path_limit() -> None:
    image = Image([[f"f{n}" for n in range(50)]])
    expect_error(docker_save(image), "more than 10 paths", "SM_LINT_MAX_PATHS", limits=Limits(max_paths=10))


def test_limits_from_the_environment() -> None:
    limits = Limits.from_env({"SM_LINT_MAX_LAYER_BYTES": "1000", "SM_LINT_MAX_PATHS": "5"})
    assert (limits.max_layer_bytes, limits.max_paths, limits.max_ratio) == (1000, 5, Limits().max_ratio)
    with pytest.raises(ArchiveError, match="not a whole number"):
        Limits.from_env({"SM_LINT_MAX_RATIO": "lots"})


def test_missing_file_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="cannot read"):
        read_archive(str(tmp_path / "nope.tar"))


def test_nothing_is_written_to_disk(tmp_path: Path) -> None:
    target = write_image(tmp_path / "img.tar", BASE.layers, BASE.config, fmt="docker-save.gz")
    layout = write_oci_dir(tmp_path / "layout", BASE._replace(compression="zstd"))
    writes: List[Any] = []
    watching = [True]

    def hook(event: str, args: Any) -> None:
        if not watching[0]:
            return
        if event == "open" and args[1] is not None and (
                (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
                or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))):
            writes.append(args)
        if event in ("os.mkdir", "os.rename", "os.remove", "shutil.copyfile"):
            writes.append((event, args))

    sys.addaudithook(hook)
    try:
        read_archive(target)
        read_archive(layout)
        read_stream([oci_tar(BASE)], "s")
    finally:
        watching[0] = False
    assert writes == []


# -- robustness and scale --------------------------------------------------------------------------

def test_random_corruption_never_escapes_as_anything_but_archive_error() -> None:
    import random

    rng = random.Random(1234)
    samples = [docker_save(BASE), oci_tar(BASE._replace(compression="gzip")), gzip_bytes(docker_save(BASE))]
    for round_ in range(300):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if round_ % 3 == 0:
            data = data[: rng.randrange(len(data))]
        try:
            view = read_stream(stream(bytes(data), rng.choice([1 << 20, 777])), "fuzz")
        except ArchiveError as exc:
            assert "\n" not in str(exc)
        else:
            assert isinstance(view, ImageView)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak RSS read from /proc")
def test_many_tiny_files_in_bounded_memory() -> None:
    """200k files streamed from a generator: peak RSS of a fresh interpreter stays bounded."""
    import subprocess

    script = (
        "from image_archives import synthetic_docker_save\n"
        "from sm_lint.image.archive import read_stream\n"
        "view = read_stream(synthetic_docker_save(200_000, 0), 'big')\n"
        "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))\n"
        "print(len(view.files), int(hwm.split()[1]) // 1024)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), str(root / "tests")]))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    count, peak_mib = map(int, out.stdout.split())
    assert count == 200_000 + 2_000 + 3  # files, their directories, /usr /usr/share /usr/share/layer0
    assert peak_mib < 200, peak_mib
