"""`registry:REF` against real registries (Debian's docker-registry, CNCF distribution 2.8), with
no engine reachable (DOCKER_HOST points at a socket that does not exist) and a Docker config of
the test's own (DOCKER_CONFIG): the same findings as the archive of the same image, the platform
choice, and every failure as one line with exit 2 (usage) or 3 (the registry).

Images are OCI layouts written by tests/image_archives.py and uploaded through the Distribution
API (registry_support.push_layout), so these tests need no engine; tests/test_registry_engine.py
does the same with images the engine built and `docker push`ed. A token service, redirects, 429s
and a hung registry are test doubles in front of the real registry (registry_support.Front).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from image_archives import Image, oci_files, oci_tar  # noqa: E402
from registry_support import Front, Registry, Silent, answer, free_port, push_layout  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

APP = Image(
    layers=[
        ["opt/", "opt/ml/", ("opt/ml/code/run.py", "file", "print('hi')\n"), "bin/",
         ("bin/start.sh", "file", "#!/bin/sh\npython3 /opt/run.py\n"), "etc/old.conf"],
        [("etc/old.conf", "whiteout"), ("srv/notes.txt", "file", "x\n")],
    ],
    config={"Entrypoint": ["/bin/sh", "-c", "/bin/start.sh"], "Env": ["PATH=/bin"]},
    history=["ADD rootfs /", "RUN rm /etc/old.conf"],
    compression="gzip",
)
PLAIN = APP._replace(compression="none")
ZSTD = APP._replace(compression="zstd")
ARM = APP._replace(platform="linux/arm64", config={"Entrypoint": ["/bin/arm"]})


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str

    def report(self) -> Dict[str, Any]:
        assert self.code in (0, 1), f"exit {self.code}: {self.stderr}"
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with no sm-lint config above it, and an empty Docker config."""
    folder = tmp_path_factory.mktemp("registry-home")
    (folder / "docker").mkdir()
    (folder / "docker" / "config.json").write_text("{}")
    return folder


def sm_lint(*args: str, cwd: Path, env: Dict[str, str] = {}) -> Run:  # noqa: B006 - never mutated
    environment = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock", DOCKER_CONFIG=str(cwd / "docker"),
                       PYTHONPATH=str(ROOT / "src"))
    environment.pop("SM_LINT_DEBUG", None)
    environment.update(env)
    done = subprocess.run([sys.executable, "-m", "sm_lint", *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=120)
    return Run(done.returncode, done.stdout, done.stderr)


def comparable(report: Dict[str, Any]) -> List[Tuple[Any, ...]]:
    """Findings without the target's name (registry reference vs archive path); a message that
    names the image to run (`sm-lint run IMAGE --scenario stop`) names the image's own reference."""
    name = report["facts"]["image"]
    return [(f["rule"], f["severity"], f["message"].replace(name, "IMAGE"), f["fix"], tuple(f["evidence"]))
            for f in report["findings"]]


def one_line_error(run: Run, code: int, *fragments: str) -> str:
    assert run.code == code, (run.code, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sm-lint: error: "), run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with Registry() as started:
        push_layout(started, "team/app", "gzip", oci_files(APP))
        push_layout(started, "team/app", "plain", oci_files(PLAIN))
        push_layout(started, "team/app", "zstd", oci_files(ZSTD))
        push_layout(started, "team/multi", "v1", oci_files([ARM, APP], attestations=True))
        push_layout(started, "team/arm", "v1", oci_files(ARM))
        yield started


@pytest.fixture(scope="module")
def archive_report(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    path = tmp_path_factory.mktemp("archive") / "app.tar"
    path.write_bytes(oci_tar(APP))
    return sm_lint("inspect", f"oci-archive:{path}", "-f", "json", cwd=home).report()


# -- the same image, the same findings ---------------------------------------------------------------

@pytest.mark.parametrize("tag", ["gzip", "plain", "zstd"])
def test_registry_gives_the_findings_of_the_archive(registry: Registry, home: Path, archive_report: Dict[str, Any],
                                                    tag: str) -> None:
    run = sm_lint("inspect", f"registry:{registry.host}/team/app:{tag}", "-f", "json", cwd=home)
    report = run.report()
    assert comparable(report) == comparable(archive_report)
    assert {f["rule"] for f in report["findings"]} >= {"SM201", "SM210"}
    assert report["findings"][0]["path"] == f"registry:{registry.host}/team/app:{tag}"
    assert report["facts"]["image"] == f"{registry.host}/team/app:{tag}"
    assert report["facts"]["layers"] == archive_report["facts"]["layers"] == "2"
    assert report["facts"]["paths"] == archive_report["facts"]["paths"]


def test_the_platform_is_chosen_from_the_index(registry: Registry, home: Path) -> None:
    reference = f"registry:{registry.host}/team/multi:v1"
    amd = sm_lint("inspect", reference, "-f", "json", cwd=home).report()
    assert amd["facts"]["platform"] == "linux/amd64"
    assert amd["facts"]["effective command"] == "/bin/sh -c /bin/start.sh"
    arm = sm_lint("inspect", reference, "--platform", "linux/arm64", "-f", "json", cwd=home).report()
    assert arm["facts"]["platform"] == "linux/arm64"
    assert arm["facts"]["effective command"] == "/bin/arm"
    missing = sm_lint("inspect", reference, "--platform", "linux/s390x", cwd=home)
    one_line_error(missing, 3, "no image for linux/s390x", "offers linux/arm64, linux/amd64")


def sm230(run: Run) -> str:
    messages = [f["message"] for f in run.report()["findings"] if f["rule"] == "SM230"]
    assert len(messages) == 1, run.stdout
    return str(messages[0])


def test_sm230_names_what_the_source_offers(registry: Registry, home: Path, tmp_path: Path) -> None:
    """SM230's tail is true of where the image came from: a registry's index and what it offers, a
    registry reference with no index, an archive's index; the same image, the same verdict."""
    multi = f"registry:{registry.host}/team/multi:v1"
    picked = sm230(sm_lint("inspect", multi, "--platform", "linux/arm64", "-f", "json", cwd=home))
    assert picked.endswith("; the registry's index offers linux/arm64, linux/amd64"), picked
    single = sm230(sm_lint("inspect", f"registry:{registry.host}/team/arm:v1", "-f", "json", cwd=home))
    assert single.startswith("the image is linux/arm64: SageMaker Processing instances are linux/amd64"), single
    assert single.endswith("; the reference names a single-platform manifest, not an index with other platforms")
    (tmp_path / "multi.tar").write_bytes(oci_tar([ARM, APP]))
    (tmp_path / "arm.tar").write_bytes(oci_tar(ARM))
    archived = sm230(sm_lint("inspect", f"oci-archive:{tmp_path / 'multi.tar'}", "--platform", "linux/arm64", "-f",
                             "json", cwd=home))
    assert archived.endswith("; the archive offers linux/arm64, linux/amd64"), archived
    alone = sm230(sm_lint("inspect", f"oci-archive:{tmp_path / 'arm.tar'}", "-f", "json", cwd=home))
    assert alone.endswith("; the archive holds no other platform"), alone
    assert "archive" not in picked + single and "registry" not in archived + alone


def test_several_images_in_one_report(registry: Registry, home: Path) -> None:
    first, second = f"registry:{registry.host}/team/app:gzip", f"registry:{registry.host}/team/multi:v1"
    run = sm_lint("inspect", first, second, "--jobs", "2", "-f", "json", "--platform", "linux/arm64", cwd=home)
    report = run.report()
    assert {f["path"] for f in report["findings"]} == {first, second}
    assert report["facts"][f"{second}: platform"] == "linux/arm64"
    assert report["facts"][f"{first}: platform"] == "linux/amd64"  # one image: no choice to make
    text = sm_lint("inspect", first, second, "--jobs", "2", cwd=home)
    assert text.code == 1 and "2 images checked" in text.stdout
    missing = sm_lint("inspect", first, f"registry:{registry.host}/team/app:nope", "--jobs", "2", cwd=home)
    one_line_error(missing, 3, "has no tag nope")
    assert missing.stdout == ""  # no half report


def test_loopback_registries_bypass_the_proxy(registry: Registry, home: Path) -> None:
    """As Docker (Go's ProxyFromEnvironment): a proxy from the environment is not used for loopback."""
    dead = f"http://127.0.0.1:{free_port()}"
    run = sm_lint("inspect", f"registry:{registry.host}/team/app:gzip", cwd=home,
                  env={"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
                       "NO_PROXY": "", "no_proxy": ""})
    assert run.code == 1, run.stderr


def test_check_and_gate_take_a_registry_image(registry: Registry, home: Path, tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text("{}")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY start.sh /bin/start.sh\nENTRYPOINT /bin/start.sh\n")
    image = f"registry:{registry.host}/team/app:gzip"
    checked = sm_lint("check", str(dockerfile), "--image", image, "-f", "json", cwd=tmp_path).report()
    assert checked["facts"]["image"] == f"{registry.host}/team/app:gzip"
    assert "SM210" in {f["rule"] for f in checked["findings"]}
    gated = sm_lint("gate", "--image", image, "-f", "json", cwd=tmp_path)
    report = gated.report()
    assert "SM210" in {f["rule"] for f in report["findings"]}
    runtime = {item["rule"]: item["reason"] for item in report["skipped"]}
    assert "is not an engine image" in runtime["SM301"], runtime


def test_archive_schemes_read_what_a_bare_path_reads(home: Path, tmp_path: Path) -> None:
    from image_archives import docker_save, write_oci_dir

    (tmp_path / "save.tar").write_bytes(docker_save(APP))
    (tmp_path / "oci.tar").write_bytes(oci_tar(APP))
    write_oci_dir(tmp_path / "layout", APP)
    for bare, schemed in ((tmp_path / "save.tar", f"docker-archive:{tmp_path / 'save.tar'}"),
                          (tmp_path / "oci.tar", f"oci-archive:{tmp_path / 'oci.tar'}"),
                          (tmp_path / "layout", f"oci-dir:{tmp_path / 'layout'}")):
        plain = sm_lint("inspect", str(bare), "-f", "json", cwd=home).report()
        named = sm_lint("inspect", schemed, "-f", "json", cwd=home).report()
        assert comparable(named) == comparable(plain) and named["facts"] == plain["facts"]
        assert {f["path"] for f in named["findings"]} == {schemed}
    one_line_error(sm_lint("inspect", f"oci-dir:{tmp_path / 'oci.tar'}", cwd=home), 2, "not a directory")


def test_an_engine_image_with_no_engine(home: Path) -> None:
    one_line_error(sm_lint("inspect", "docker:sm-lint-no-such-image:1", cwd=home), 3, "cannot reach a Docker engine")


# -- failures: one line, exit 2 or 3 ------------------------------------------------------------------

def test_a_missing_tag_or_repository(registry: Registry, home: Path) -> None:
    one_line_error(sm_lint("inspect", f"registry:{registry.host}/team/app:nope", cwd=home), 3,
                   f"registry {registry.host} has no tag nope in team/app", "MANIFEST_UNKNOWN")
    one_line_error(sm_lint("inspect", f"registry:{registry.host}/team/none:v1", cwd=home), 3, "team/none")


def test_a_digest_the_registry_does_not_have(registry: Registry, home: Path) -> None:
    digest = "sha256:" + "ab" * 32
    one_line_error(sm_lint("inspect", f"registry:{registry.host}/team/app@{digest}", cwd=home), 3,
                   f"has no manifest {digest} in team/app")


def test_malformed_references_are_usage_errors(home: Path) -> None:
    one_line_error(sm_lint("inspect", "registry:Team/App:v1", cwd=home), 2, "invalid")
    one_line_error(sm_lint("inspect", "registry:127.0.0.1:5000/app@sha256:12", cwd=home), 2, "invalid digest")
    one_line_error(sm_lint("inspect", "registry:", cwd=home), 2, "nothing after registry:")
    one_line_error(sm_lint("inspect", "--ca-cert", "/nonexistent.pem", "registry:127.0.0.1:1/a:b", cwd=home), 2,
                   "--ca-cert")
    # gate says it before checking the Dockerfile
    (home / "Dockerfile").write_text("FROM scratch\n")
    gated = sm_lint("gate", "--dockerfile", "Dockerfile", "--image", "registry:Team/App:v1", cwd=home)
    assert "checking" not in gated.stderr
    one_line_error(gated, 2, "invalid")


def _pushed_blob(registry: Registry, image: Image, repository: str) -> Tuple[str, int]:
    """Push `image` alone and return its (single) layer blob's digest and size."""
    files = oci_files(image)
    push_layout(registry, repository, "v1", files)
    manifest = next(json.loads(data) for path, data in files.items()
                    if path.startswith("blobs/") and data[:1] == b"{" and b'"layers"' in data)
    layer = manifest["layers"][0]
    return layer["digest"], layer["size"]


def test_a_truncated_blob(home: Path) -> None:
    with Registry() as registry:
        digest, size = _pushed_blob(registry, PLAIN._replace(layers=PLAIN.layers[:1], history=None), "team/cut")
        blob = registry.blob_file(digest)
        blob.write_bytes(blob.read_bytes()[: size // 2])
        run = sm_lint("inspect", f"registry:{registry.host}/team/cut:v1", cwd=home)
    one_line_error(run, 3, "layer 0", "truncated")


def test_a_blob_that_does_not_match_its_digest(home: Path) -> None:
    with Registry() as registry:
        digest, size = _pushed_blob(registry, PLAIN._replace(layers=PLAIN.layers[:1], history=None), "team/bad")
        blob = registry.blob_file(digest)
        data = bytearray(blob.read_bytes())
        at = data.index(b"print('hi')")
        data[at:at + 5] = b"PRINT"  # same size, other bytes: only the digest can tell
        blob.write_bytes(bytes(data))
        run = sm_lint("inspect", f"registry:{registry.host}/team/bad:v1", cwd=home)
    one_line_error(run, 3, "layer 0", "does not match its digest", "corrupt or tampered")


def test_an_unreachable_registry(home: Path) -> None:
    port = free_port()
    one_line_error(sm_lint("inspect", f"registry:127.0.0.1:{port}/team/app:v1", cwd=home), 3,
                   f"cannot reach registry 127.0.0.1:{port}", "refused")


def test_a_registry_that_never_answers_times_out(home: Path) -> None:
    with Silent() as silent:
        run = sm_lint("inspect", f"registry:{silent.host}/team/app:v1", cwd=home,
                      env={"SM_LINT_REGISTRY_TIMEOUT": "1"})
    one_line_error(run, 3, silent.host, "1 s", "SM_LINT_REGISTRY_TIMEOUT")


def test_a_decompression_bomb_stops_at_the_archive_limits(registry: Registry, home: Path) -> None:
    run = sm_lint("inspect", f"registry:{registry.host}/team/app:gzip", cwd=home,
                  env={"SM_LINT_MAX_LAYER_BYTES": "4096"})
    one_line_error(run, 3, "inflates past 4096 bytes", "decompression bomb")


def test_ctrl_c_during_a_download_ends_at_once(registry: Registry, home: Path) -> None:
    """A layer that trickles in: Ctrl-C ends the run with 130 and one line, without waiting for the
    download threads."""
    import signal
    import threading
    import time

    asked = threading.Event()
    files = oci_files(PLAIN)
    manifest = next(json.loads(data) for path, data in files.items()
                    if path.startswith("blobs/") and data[:1] == b"{" and b'"layers"' in data)
    layer = manifest["layers"][0]["digest"]

    def trickle(handler: Any, path: str) -> bool:
        if not path.endswith(f"/blobs/{layer}"):
            return False
        asked.set()
        handler.send_response(200)
        handler.send_header("Content-Length", str(1 << 30))
        handler.end_headers()
        try:
            for _ in range(2400):  # two minutes: far longer than the wait for the exit below
                handler.wfile.write(b"\0" * 512)
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        return True

    with Front(registry.url, trickle) as front:
        environment = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock",
                           DOCKER_CONFIG=str(home / "docker"), PYTHONPATH=str(ROOT / "src"))
        process = subprocess.Popen([sys.executable, "-m", "sm_lint", "inspect", f"registry:{front.host}/team/app:plain"],
                                   cwd=home, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert asked.wait(60), "the layer was never asked for"
            time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130, (process.returncode, err)
    assert err.strip().splitlines()[-1] == "sm-lint: interrupted" and "Traceback" not in err


@pytest.mark.parametrize("honours_range", [True, False])
def test_a_download_cut_short_is_resumed(registry: Registry, home: Path, honours_range: bool) -> None:
    """The first answer for each layer blob promises the whole blob and stops half way (the
    connection closes); the download goes on from where it stopped with a Range request (or, from a
    server that ignores Range, the start is skipped), and the result is the same image."""
    import requests

    cut: Dict[str, int] = {}
    asked: List[Tuple[str, str]] = []

    def flaky(handler: Any, path: str) -> bool:
        if "/blobs/" not in path:
            return False
        if path not in cut:
            data = requests.get(registry.url + path, timeout=30).content
            cut[path] = len(data)
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: len(data) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return True
        asked.append((path, handler.headers.get("Range", "")))
        if not honours_range and "Range" in handler.headers:
            del handler.headers["Range"]
        return False

    with Front(registry.url, flaky) as front:
        report = sm_lint("inspect", f"registry:{front.host}/team/app:plain", "-f", "json", cwd=home).report()
        ranges = [path for path, _ in front.seen if "/blobs/" in path]
    assert comparable(report) == comparable(sm_lint("inspect", f"registry:{registry.host}/team/app:plain", "-f",
                                                    "json", cwd=home).report())
    assert len(ranges) == 2 * len(cut)  # each blob: the cut answer, then the rest
    layers = [(path, given) for path, given in asked if cut[path] > 1000]  # the config is fetched again whole
    assert layers and all(given == f"bytes={cut[path] // 2}-" for path, given in layers), asked


def test_429_and_503_are_retried(registry: Registry, home: Path) -> None:
    failures = {"left": 2}

    def flaky(handler: Any, path: str) -> bool:
        if "/manifests/" in path and failures["left"]:
            failures["left"] -= 1
            return answer(handler, 429 if failures["left"] else 503, headers={"Retry-After": "1"})
        return False

    with Front(registry.url, flaky) as front:
        report = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", "-f", "json", cwd=home).report()
        tries = [path for path, _ in front.seen if path == "/v2/team/app/manifests/gzip"]
    assert "SM210" in {f["rule"] for f in report["findings"]}
    assert len(tries) == 3

    def down(handler: Any, path: str) -> bool:
        return answer(handler, 503, b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}',
                      {"Retry-After": "1", "Content-Type": "application/json"}) if "/manifests/" in path else False

    with Front(registry.url, down) as front:
        run = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", cwd=home)
        tries = [path for path, _ in front.seen if "/manifests/" in path]
    one_line_error(run, 3, "answered 503", "after retries", "UNAVAILABLE: busy")
    assert len(tries) == 5


# -- authentication -----------------------------------------------------------------------------------

USER, PASSWORD = "alice", "s3cret-pw"


@pytest.fixture(scope="module")
def secure() -> Iterator[Registry]:
    """HTTPS from a CA made for the test, and htpasswd basic auth."""
    with Registry(tls=True, users={USER: PASSWORD}) as started:
        push_layout(started, "team/app", "gzip", oci_files(APP))
        yield started


def docker_config(folder: Path, document: Dict[str, Any]) -> Path:
    (folder / "docker").mkdir(exist_ok=True)
    (folder / "docker" / "config.json").write_text(json.dumps(document))
    return folder


def auths(host: str, user: str = USER, password: str = PASSWORD) -> Dict[str, Any]:
    return {"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}


def test_tls_and_basic_auth_from_the_docker_config(secure: Registry, tmp_path: Path,
                                                   archive_report: Dict[str, Any]) -> None:
    cwd = docker_config(tmp_path, auths(secure.host))
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--ca-cert", str(secure.ca_path), "-f", "json",
                  cwd=cwd)
    assert comparable(run.report()) == comparable(archive_report)


def test_an_untrusted_certificate_is_refused(secure: Registry, tmp_path: Path) -> None:
    cwd = docker_config(tmp_path, auths(secure.host))
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", cwd=cwd)
    one_line_error(run, 3, "not trusted", "--ca-cert")
    # --insecure-registry: read over TLS without checking the certificate, as Docker does
    insecure = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--insecure-registry", secure.host, cwd=cwd)
    assert insecure.code == 1, insecure.stderr


def test_check_image_takes_the_registry_flags(secure: Registry, tmp_path: Path) -> None:
    """`check --image registry:...` reaches a TLS registry as inspect does: --ca-cert trusts its CA,
    --insecure-registry reads it unverified, and without either the untrusted certificate is one line.
    The flags are checked before any work, and make sense only with --image."""
    cwd = docker_config(tmp_path, auths(secure.host))
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY start.sh /bin/start.sh\nENTRYPOINT /bin/start.sh\n")
    image = f"registry:{secure.host}/team/app:gzip"
    trusted = sm_lint("check", str(dockerfile), "--image", image, "--ca-cert", str(secure.ca_path), "-f", "json",
                      cwd=cwd).report()
    assert trusted["facts"]["image"] == f"{secure.host}/team/app:gzip"
    assert "SM210" in {f["rule"] for f in trusted["findings"]}
    unverified = sm_lint("check", str(dockerfile), "--image", image, "--insecure-registry", secure.host, "-f", "json",
                         cwd=cwd).report()
    assert unverified["findings"] == trusted["findings"]
    one_line_error(sm_lint("check", str(dockerfile), "--image", image, cwd=cwd), 3, "not trusted", "--ca-cert")
    one_line_error(sm_lint("check", str(dockerfile), "--image", image, "--ca-cert", str(tmp_path / "absent.pem"),
                           cwd=cwd), 2, "--ca-cert", "no such file")
    one_line_error(sm_lint("check", str(dockerfile), "--image", image, "--insecure-registry", "http://", cwd=cwd), 2,
                   "--insecure-registry", "expected HOST or HOST:PORT")
    one_line_error(sm_lint("check", str(dockerfile), "--ca-cert", str(secure.ca_path), cwd=cwd), 2,
                   "--ca-cert goes with --image")
    one_line_error(sm_lint("check", str(dockerfile), "--image", "registry:Bad/Name:tag", cwd=cwd), 2)
    assert "--insecure-registry" in sm_lint("check", "--help", cwd=cwd).stdout


def test_docker_certs_d_is_trusted_as_docker_does(secure: Registry, tmp_path: Path) -> None:
    """A CA in certs.d/HOST:PORT/ca.crt (rootless Docker's ~/.config/docker/certs.d here, HOME being
    the test's) is trusted without --ca-cert."""
    cwd = docker_config(tmp_path, auths(secure.host))
    folder = tmp_path / ".config" / "docker" / "certs.d" / secure.host
    folder.mkdir(parents=True)
    (folder / "ca.crt").write_bytes(secure.ca_path.read_bytes())
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", cwd=cwd, env={"HOME": str(tmp_path)})
    assert run.code == 1, run.stderr


def test_no_credentials_and_wrong_credentials(secure: Registry, tmp_path: Path) -> None:
    nothing = tmp_path / "none"
    nothing.mkdir()
    docker_config(nothing, {})
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--ca-cert", str(secure.ca_path), cwd=nothing)
    one_line_error(run, 3, "needs credentials", f"docker login {secure.host}")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    docker_config(wrong, auths(secure.host, password="nope"))
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--ca-cert", str(secure.ca_path), cwd=wrong)
    one_line_error(run, 3, "refused the credentials from auths", "401")


HELPER = """\
#!/bin/sh
# docker-credential-test: what a credential helper answers to `get` (the host on stdin)
read -r server
[ "$1" = get ] || exit 1
case "$server" in
  {host}) printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_credentials_from_a_helper_program(secure: Registry, tmp_path: Path, key: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-test"
    helper.write_text(HELPER.format(host=secure.host, user=USER, password=PASSWORD))
    helper.chmod(0o755)
    config = {"credHelpers": {secure.host: "test"}} if key == "credHelpers" else {"credsStore": "test"}
    cwd = docker_config(tmp_path, config)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--ca-cert", str(secure.ca_path), cwd=cwd,
                  env=env)
    assert run.code == 1, run.stderr
    broken = bin_dir / "docker-credential-test"
    broken.write_text("#!/bin/sh\necho 'the keychain is locked' >&2\nexit 1\n")
    run = sm_lint("inspect", f"registry:{secure.host}/team/app:gzip", "--ca-cert", str(secure.ca_path), cwd=cwd,
                  env=env)
    one_line_error(run, 3, "docker-credential-test")


def _token_service(required: str, anonymous: bool) -> Any:
    """A Bearer token flow in front of a registry, as Docker Hub's and ECR's: /v2/ answers 401 with a
    challenge naming /token; /token hands out a token (for `required` basic credentials, or to
    anyone when `anonymous`); registry requests need `Bearer TOKEN`."""
    state: Dict[str, Any] = {"port": 0, "scopes": [], "forms": []}

    def handle(handler: Any, path: str) -> bool:
        if path.startswith("/token"):
            from urllib.parse import parse_qs, urlparse

            query = parse_qs(urlparse(path).query)
            given = handler.headers.get("Authorization", "")
            if handler.command == "POST":  # OAuth2 with a refresh token (an `identitytoken` in the config)
                length = int(handler.headers.get("Content-Length") or 0)
                query = parse_qs(handler.rfile.read(length).decode())
                state["forms"].append({key: values[0] for key, values in query.items()})
                given = required if query.get("refresh_token") == ["refresh-me"] else ""
            state["scopes"].append(query.get("scope", [""])[0])
            if not anonymous and given != required:
                return answer(handler, 401, b'{"details":"incorrect username or password"}')
            return answer(handler, 200, json.dumps({"token": "t0k3n", "expires_in": 300}).encode(),
                          {"Content-Type": "application/json"})
        if handler.headers.get("Authorization", "") != "Bearer t0k3n":
            realm = f"http://127.0.0.1:{state['port']}/token"
            return answer(handler, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                          {"WWW-Authenticate": f'Bearer realm="{realm}",service="sm-lint-test",'
                                               'scope="repository:team/app:pull"',
                           "Content-Type": "application/json"})
        return False

    return handle, state


@pytest.mark.parametrize("anonymous", [True, False])
def test_the_bearer_token_flow(registry: Registry, tmp_path: Path, anonymous: bool) -> None:
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    handle, state = _token_service(basic, anonymous)
    with Front(registry.url, handle) as front:
        state["port"] = int(front.host.rsplit(":", 1)[1])
        cwd = docker_config(tmp_path, {} if anonymous else auths(front.host))
        report = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", "-f", "json", cwd=cwd).report()
        assert "SM210" in {f["rule"] for f in report["findings"]}
        assert state["scopes"] and set(state["scopes"]) == {"repository:team/app:pull"}
        if not anonymous:
            docker_config(tmp_path, auths(front.host, password="nope"))
            run = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", cwd=tmp_path)
            one_line_error(run, 3, "refused the credentials from auths")
            # `docker login` to some registries stores an identity token: Docker's OAuth2 refresh flow
            docker_config(tmp_path, {"auths": {front.host: {"identitytoken": "refresh-me"}}})
            run = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", cwd=tmp_path)
            assert run.code == 1, run.stderr
            assert state["forms"][-1]["grant_type"] == "refresh_token"
            assert state["forms"][-1]["service"] == "sm-lint-test"


def test_blob_redirects_to_another_host_carry_no_credentials(registry: Registry, tmp_path: Path) -> None:
    """ECR and Docker Hub redirect blob downloads to presigned storage URLs: the registry's
    credentials must not go along. The storage here is the same registry behind another name
    (localhost instead of 127.0.0.1), which records what it was sent."""
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with Front(registry.url, host="localhost") as storage:
        storage_port = storage.host.rsplit(":", 1)[1]

        def guarded(handler: Any, path: str) -> bool:
            if handler.headers.get("Authorization", "") != basic:
                return answer(handler, 401, headers={"WWW-Authenticate": 'Basic realm="sm-lint-test"'})
            if "/blobs/" in path:
                return answer(handler, 307, headers={"Location": f"http://localhost:{storage_port}{path}"})
            return False

        with Front(registry.url, guarded) as front:
            cwd = docker_config(tmp_path, auths(front.host))
            run = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", "-f", "json", cwd=cwd)
            assert run.code == 1, run.stderr
            to_front = [auth for path, auth in front.seen if "/blobs/" in path]
        to_storage = [(path, auth) for path, auth in storage.seen if "/blobs/" in path]
    assert to_front and all(auth == basic for auth in to_front)
    assert len(to_storage) == len(to_front)  # config and both layers came from the storage
    assert all(auth == "" for _, auth in to_storage), to_storage


def test_a_redirect_to_untrusted_tls_is_one_line(registry: Registry, secure: Registry, home: Path) -> None:
    def elsewhere(handler: Any, path: str) -> bool:
        if "/blobs/" in path:
            return answer(handler, 307, headers={"Location": f"https://{secure.host}{path}"})
        return False

    with Front(registry.url, elsewhere) as front:
        run = sm_lint("inspect", f"registry:{front.host}/team/app:gzip", cwd=home)
    one_line_error(run, 3, f"registry:{front.host}/team/app:gzip", f"certificate of {secure.host}, where registry"
                   f" {front.host} sent the download, is not trusted", "--ca-cert")


def test_help_names_the_schemes(home: Path) -> None:
    text = sm_lint("inspect", "--help", cwd=home).stdout
    for scheme in ("docker:", "docker-archive:", "oci-archive:", "oci-dir:", "registry:"):
        assert scheme in text
    assert "--insecure-registry" in text and "--ca-cert" in text and "--jobs" in text
