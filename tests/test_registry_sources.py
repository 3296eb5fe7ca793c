"""Source schemes (image/sources.py) and registry references as Docker normalises them
(image/registry.py), without a registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from sm_lint.errors import UsageError
from sm_lint.image.registry import Reference, parse_reference
from sm_lint.image.registry_auth import parse_challenges
from sm_lint.image.registry_client import is_loopback
from sm_lint.image.sources import check_path, engine_name, parse, registry_options


def test_schemes_and_bare_arguments(tmp_path: Path) -> None:
    archive = tmp_path / "app.tar"
    archive.write_bytes(b"")
    assert parse("docker:python:3.11").scheme == "docker" and parse("docker:python:3.11").value == "python:3.11"
    assert parse(f"docker-archive:{archive}").value == str(archive)
    assert parse("registry:ghcr.io/a/b:1").scheme == "registry"
    # no scheme: an existing path is an archive (a folder an OCI layout), anything else an engine image
    assert parse(str(archive)).scheme == "docker-archive"
    assert parse(str(tmp_path)).scheme == "oci-dir"
    assert parse("python:3.11").scheme == "docker"
    # a registry host with a port is not a scheme
    assert parse("localhost:5000/app:1").scheme == "docker"
    assert parse("registry.example.com:5000/app").scheme == "docker"
    assert engine_name("docker:app:1") == "app:1" and engine_name("app:1") == "app:1"
    assert engine_name("registry:x/y") is None and engine_name(str(archive)) is None


def test_archive_schemes_are_checked_up_front(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        check_path(parse(f"oci-archive:{tmp_path / 'missing.tar'}"))
    with pytest.raises(UsageError, match="use oci-archive: for a tar"):
        (tmp_path / "x.tar").write_bytes(b"")
        check_path(parse(f"oci-dir:{tmp_path / 'x.tar'}"))
    with pytest.raises(UsageError, match="use oci-dir:"):
        check_path(parse(f"docker-archive:{tmp_path}"))
    with pytest.raises(UsageError, match="nothing after"):
        parse("oci-dir:")


@pytest.mark.parametrize("text, expected", [
    ("python", Reference("docker.io", "library/python", "latest", "")),
    ("python:3.11-slim", Reference("docker.io", "library/python", "3.11-slim", "")),
    ("team/app", Reference("docker.io", "team/app", "latest", "")),
    ("index.docker.io/team/app:1", Reference("docker.io", "team/app", "1", "")),
    ("localhost/app", Reference("localhost", "app", "latest", "")),
    ("localhost:5000/a/b/c:v2", Reference("localhost:5000", "a/b/c", "v2", "")),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/ml/train:gpu",
     Reference("123456789012.dkr.ecr.us-east-1.amazonaws.com", "ml/train", "gpu", "")),
    ("[::1]:5000/app@sha256:" + "a" * 64, Reference("[::1]:5000", "app", "", "sha256:" + "a" * 64)),
    ("ghcr.io/o/app:1@sha256:" + "b" * 64, Reference("ghcr.io", "o/app", "1", "sha256:" + "b" * 64)),
])
def test_references_normalise_as_docker_does(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("text", ["team/App", "app:", "app:bad tag", "a//b", "app@sha256:abc", "-x/y", "ghcr.io/"])
def test_malformed_references(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)


def test_loopback_hosts() -> None:
    assert is_loopback("localhost:5000") and is_loopback("127.0.0.1") and is_loopback("127.1.2.3:80")
    assert is_loopback("[::1]:5000")
    assert not is_loopback("10.0.0.1:5000") and not is_loopback("registry.example.com")


def test_registry_flags() -> None:
    assert registry_options(["http://reg.internal:5000", "other"]).insecure == ("reg.internal:5000", "other")
    with pytest.raises(UsageError):
        registry_options(["reg/x"])


def test_www_authenticate_challenges() -> None:
    bearer, = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                               'scope="repository:library/python:pull"')
    assert bearer.scheme == "bearer" and bearer.params == {
        "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
        "scope": "repository:library/python:pull"}
    basic, token = parse_challenges('Basic realm="a \\"b\\"", Bearer realm=x')
    assert basic.params == {"realm": 'a "b"'} and token.params == {"realm": "x"}
    assert parse_challenges("") == [] and parse_challenges("Negotiate")[0].scheme == "negotiate"


def test_the_registry_modules_import_no_http_stack() -> None:
    """`check` (and --help) must stay light: requests and docker load only when a registry is read."""
    import subprocess
    import sys

    code = ("import sys, sm_lint.inspect_command, sm_lint.image.sources, sm_lint.image.registry, "
            "sm_lint.image.registry_client, sm_lint.image.registry_auth; "
            "assert not {'requests', 'docker', 'urllib3'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1] / "src")


def test_plain_http_only_for_loopback_and_insecure_registries() -> None:
    from sm_lint.image.registry_client import RegistryClient
    from sm_lint.image.sources import RegistryOptions

    def schemes(host: str, insecure: tuple = ()) -> tuple:
        client = RegistryClient(host, "team/app", RegistryOptions(insecure), f"registry:{host}/team/app")
        try:
            return client.schemes()
        finally:
            client.close()

    assert schemes("registry.example.com") == ("https",)
    assert schemes("123456789012.dkr.ecr.us-east-1.amazonaws.com") == ("https",)
    assert schemes("docker.io") == ("https",)
    assert schemes("localhost:5000") == schemes("127.0.0.1:5000") == ("https", "http")
    assert schemes("reg.internal:5000", ("reg.internal:5000",)) == ("https", "http")
    assert schemes("reg.internal:5000", ("reg.internal",)) == ("https", "http")  # a host names every port
    assert schemes("reg.internal:5000", ("other:5000",)) == ("https",)


def test_docker_certs_folders(tmp_path: Path) -> None:
    from sm_lint.image.registry_client import docker_certs

    system, user = tmp_path / "etc", tmp_path / "home"
    (system / "reg:5000").mkdir(parents=True)
    (user / "reg:5000").mkdir(parents=True)
    for name in ("ca.crt", "client.cert", "client.key", "notes.txt"):
        (system / "reg:5000" / name).write_text("x")
    (user / "reg:5000" / "extra.crt").write_text("x")
    found = docker_certs("reg:5000", (str(system), str(user)))
    assert found.ca_files == [str(system / "reg:5000" / "ca.crt"), str(user / "reg:5000" / "extra.crt")]
    assert found.client == (str(system / "reg:5000" / "client.cert"), str(system / "reg:5000" / "client.key"))
    assert docker_certs("other", (str(system),)) == ([], None)


def test_sm230_of_an_engine_image_speaks_of_the_engine() -> None:
    """The engine's `docker save` goes through the archive reader: SM230 must not call it an archive."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from image_archives import Image, oci_tar

    from sm_lint.image.archive import read_stream
    from sm_lint.image.checks import ImageContext, wrong_platform

    arm = Image(layers=[[("bin/arm", "file", "x")]], config={"Entrypoint": ["/bin/arm"]}, platform="linux/arm64")
    amd = arm._replace(platform="linux/amd64")
    alone = read_stream([oci_tar(arm)], "app:arm", holder="engine")
    (hit,) = wrong_platform(ImageContext(alone, "auto"))
    assert hit.message.endswith("; the engine's copy of the image holds no other platform"), hit.message
    both = read_stream([oci_tar([arm, amd])], "app:multi", platform="linux/arm64", holder="engine")
    (hit,) = wrong_platform(ImageContext(both, "auto"))
    assert hit.message.endswith("; the engine's copy of the image offers linux/arm64, linux/amd64"), hit.message


@pytest.mark.parametrize("library", ["zlib-ng", "zlib"])
def test_gzip_layers_read_the_same_with_zlib_ng_and_zlib(library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """gzip layers are inflated by zlib-ng where it is installed and by zlib where it has no wheel:
    the same bytes from concatenated members and zero padding, the same one-line errors."""
    import gzip
    import zlib

    from sm_lint.image import tarstream

    if library == "zlib":
        monkeypatch.setattr(tarstream, "inflate_lib", zlib)
    else:
        pytest.importorskip("zlib_ng")
        assert tarstream.inflate_lib.__name__ == "zlib_ng.zlib_ng"
    plain = bytes(range(256)) * 40_000  # inflates in several pieces (the 1 MiB step)
    data = gzip.compress(plain[:5000]) + gzip.compress(plain[5000:]) + bytes(1024)
    out: list = []
    decoder = tarstream.decoder("gzip", out.append)
    assert decoder is not None
    for start in range(0, len(data), 4096):
        decoder.write(data[start:start + 4096])
    decoder.close()
    assert b"".join(out) == plain and max(map(len, out)) <= 1 << 20
    truncated = tarstream.decoder("gzip", lambda chunk: None)
    assert truncated is not None
    truncated.write(data[:100])
    with pytest.raises(tarstream.FormatError, match="gzip stream is truncated"):
        truncated.close()
    corrupt = tarstream.decoder("gzip", lambda chunk: None)
    assert corrupt is not None
    with pytest.raises(tarstream.FormatError, match="corrupt gzip data"):
        corrupt.write(data[:10] + b"\xff" * 64)


def test_hash_lanes_keep_each_digest_in_order() -> None:
    """The blob digest and the diff_id hash on two threads: each hasher's chunks stay in order, so
    every digest is the one hashlib gives for the bytes as written."""
    import hashlib

    from sm_lint.image.tarstream import HashPool, new_hash

    pool = HashPool(lanes=2)
    try:
        hashers = [new_hash() for _ in range(5)]
        written: list = [b"" for _ in hashers]
        for step in range(200):
            for number, hasher in enumerate(hashers):
                chunk = bytes([step % 256, number]) * (step + 1)
                pool.update(hasher, chunk)
                written[number] += chunk
        pool.drain()
        assert [h.hexdigest() for h in hashers] == [hashlib.sha256(data).hexdigest() for data in written]
    finally:
        pool.close()
