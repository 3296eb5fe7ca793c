"""Real registries for the `registry:` tests: Debian's `docker-registry` (the CNCF distribution
registry, 2.8), each started on a free loopback port with its own temporary storage, and stopped
and removed when the test is done, whatever ended it.

- `Registry(tls=..., users=...)`: plain HTTP by default; `tls=True` serves HTTPS with a server
  certificate from a CA made for the test (`ca_path`), `users={"name": "password"}` turns on
  htpasswd basic auth (bcrypt hashes from `htpasswd -B`, apache2-utils).
- `push_layout(registry, repository, tag, files)`: uploads an OCI image layout (the files of
  `image_archives.oci_files`, or of a converted `docker save`) through the Distribution API, as
  `docker push` / skopeo do: blobs (monolithic upload), then manifests by digest, then the tag.
  No engine is needed for it.
- `blob_file(registry, digest)`: where the registry keeps a blob, to corrupt it on purpose.

The registry binary is missing on a machine that was not provisioned (scripts/test.sh installs
it): the tests then skip, and fail under CI=true (docker_support.unavailable).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from docker_support import unavailable

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")


def registry_binary() -> str:
    for name in ("docker-registry", "registry"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("no registry server (Debian: apt-get install docker-registry; scripts/test.sh provisions it)")
    raise AssertionError  # unreachable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """One registry process on 127.0.0.1, for a `with` block."""

    def __init__(self, tls: bool = False, users: Optional[Mapping[str, str]] = None) -> None:
        self.tls = tls
        self.users = dict(users or {})
        self.folder = Path(tempfile.mkdtemp(prefix="sm-lint-registry-"))
        self.port = 0
        self.process: Optional[subprocess.Popen] = None
        self.ca_path = self.folder / "ca.pem"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def __enter__(self) -> "Registry":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _start(self) -> None:
        binary = registry_binary()
        storage = self.folder / "storage"
        storage.mkdir()
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {storage}", "  delete:", "    enabled: true",
                 "http:", "  addr: ADDR"]
        if self.tls:
            key, cert = self._certificates()
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.users:
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text("".join(_bcrypt_line(user, password) for user, password in self.users.items()))
            lines += ["auth:", "  htpasswd:", "    realm: sm-lint-test", f"    path: {htpasswd}"]
        for attempt in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            config = self.folder / "config.yml"
            config.write_text("\n".join(lines).replace("ADDR", self.host) + "\n")
            log = (self.folder / "registry.log").open("wb")
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
            log.close()
            if self._wait():
                return
            self._kill()
        raise RuntimeError(f"the registry did not start: {self.log_tail()}")

    def _wait(self) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_tail(self) -> str:
        try:
            return (self.folder / "registry.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _certificates(self) -> Tuple[Path, Path]:
        """A CA (ca.pem) and a server certificate it signed for 127.0.0.1 and localhost."""
        folder = self.folder
        openssl = shutil.which("openssl") or unavailable("no openssl to make the test CA (apt-get install openssl)")

        def run(*args: str) -> None:
            subprocess.run([str(openssl), *args], check=True, capture_output=True, cwd=folder, timeout=60)

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=sm-lint test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")
        (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                                        "extendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
        return folder / "server.key", folder / "server.pem"

    # -- content ---------------------------------------------------------------------------------
    def session(self) -> Any:
        import requests

        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_path) if self.tls else True
        if self.users:
            session.auth = next(iter(self.users.items()))
        return session

    def blob_file(self, digest: str) -> Path:
        algorithm, _, hexa = digest.partition(":")
        return self.folder / "storage" / "docker" / "registry" / "v2" / "blobs" / algorithm / hexa[:2] / hexa / "data"


def _bcrypt_line(user: str, password: str) -> str:
    htpasswd = shutil.which("htpasswd")
    if htpasswd:
        done = subprocess.run([htpasswd, "-Bbn", user, password], check=True, capture_output=True, text=True,
                              timeout=60)
        return done.stdout.strip() + "\n"
    try:
        import bcrypt
    except ImportError:
        unavailable("no htpasswd (apt-get install apache2-utils) nor Python bcrypt to make the registry's users")
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}\n"


def push_layout(registry: Registry, repository: str, tag: str, files: Mapping[str, bytes]) -> str:
    """Upload the OCI layout `files` (path -> bytes) and tag its top-level image; returns the
    digest the tag points at."""
    session = registry.session()
    base = f"{registry.url}/v2/{repository}"
    documents: Dict[str, Tuple[str, bytes]] = {}
    for path, data in files.items():
        if not path.startswith("blobs/"):
            continue
        digest = path.split("/", 1)[1].replace("/", ":", 1)
        media = _document_type(data)
        if media:
            documents[digest] = (media, data)
            continue
        started = session.post(f"{base}/blobs/uploads/", timeout=60)
        assert started.status_code == 202, (started.status_code, started.text)
        location = started.headers["Location"]
        if location.startswith("/"):
            location = registry.url + location
        separator = "&" if "?" in location else "?"
        done = session.put(f"{location}{separator}digest={digest}", data=data,
                           headers={"Content-Type": "application/octet-stream"}, timeout=120)
        assert done.status_code == 201, (done.status_code, done.text)
    # children before parents: an index may only name manifests the registry has
    order = sorted(documents.items(), key=lambda item: item[1][0] in INDEX_TYPES)
    for digest, (media, data) in order:
        put = session.put(f"{base}/manifests/{digest}", data=data, headers={"Content-Type": media}, timeout=60)
        assert put.status_code == 201, (put.status_code, put.text)
    top = json.loads(files["index.json"])["manifests"][0]
    media, data = documents[top["digest"]]
    put = session.put(f"{base}/manifests/{tag}", data=data, headers={"Content-Type": media}, timeout=60)
    assert put.status_code == 201, (put.status_code, put.text)
    return str(top["digest"])


def _document_type(data: bytes) -> str:
    if not data[:1] == b"{":
        return ""
    try:
        document = json.loads(data)
    except ValueError:
        return ""
    media = document.get("mediaType", "") if isinstance(document, dict) else ""
    if media in INDEX_TYPES or media in MANIFEST_TYPES:
        return str(media)
    return ""


def layout_from_tar(path: os.PathLike) -> Dict[str, bytes]:
    """The files of an OCI layout tar (tests/oci_convert.py writes them from `docker save`)."""
    import tarfile

    files: Dict[str, bytes] = {}
    with tarfile.open(str(path)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                files[member.name] = handle.read()
    return files


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- test doubles in front of a real registry (a token service, redirects, failures) ---------------

class Front:
    """A throwaway HTTP server on loopback in front of a real registry, for what the registry
    itself cannot be made to do: `handle(handler, path)` returns True when it answered the request
    itself, else the request is passed on to `upstream` (a registry URL) as is. Every request's
    path and Authorization header are recorded in `seen`."""

    def __init__(self, upstream: str, handle: Any = None, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.handle = handle or (lambda handler, path: False)
        self.host_name = host
        self.seen: list = []
        self._server: Any = None
        self._thread: Any = None

    @property
    def host(self) -> str:
        return f"{self.host_name}:{self._server.server_address[1]}"

    def __enter__(self) -> "Front":
        import http.server
        import threading

        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                front.seen.append((self.path, self.headers.get("Authorization", "")))
                if not front.handle(self, self.path):
                    front.forward(self)

            do_POST = do_GET

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forward(self, handler: Any) -> None:
        import requests

        headers = {name: handler.headers[name] for name in ("Accept", "Range") if handler.headers.get(name)}
        upstream = requests.get(self.upstream + handler.path, headers=headers, timeout=30, allow_redirects=False)
        body = upstream.content
        handler.send_response(upstream.status_code)
        for name in ("Content-Type", "Docker-Content-Digest", "Location", "Content-Range"):
            if name in upstream.headers:
                handler.send_header(name, upstream.headers[name])
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def answer(handler: Any, status: int, body: bytes = b"", headers: Optional[Mapping[str, str]] = None) -> bool:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
    return True


class Silent:
    """A loopback port that accepts connections and never answers (a hung registry)."""

    def __enter__(self) -> "Silent":
        import threading

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.host = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._held: list = []
        self._open = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while self._open:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def __exit__(self, *exc: Any) -> None:
        self._open = False
        self._socket.close()
        for connection in self._held:
            connection.close()
