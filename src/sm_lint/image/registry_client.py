"""HTTP to one registry: HTTPS or plain HTTP, TLS trust, retries, timeouts, the auth handshake,
and every failure as one line (EnvironmentFailure, exit 3).

requests does the HTTP (it comes with the docker SDK): connection pooling, proxies from the
environment, urllib3's Retry for 429 and 5xx answers with backoff and Retry-After, and redirects
that drop the Authorization header when they lead to another host (requests' `rebuild_auth`), so
a registry's credentials never reach the storage service a blob is redirected to (ECR, GCR, and
Docker Hub send presigned S3/GCS URLs).

Schemes, as Docker decides them: HTTPS with the certificate verified against the usual CAs plus
`--ca-cert` and Docker's own `/etc/docker/certs.d/HOST/*.crt` (a client certificate there is
presented too). Plain HTTP only for a loopback registry (localhost, 127.0.0.0/8, ::1) that does not
speak TLS, and for a host named by `--insecure-registry`, which Docker also reads over HTTPS
without verifying the certificate. Requests to loopback never go through a proxy (Go's
ProxyFromEnvironment, which Docker uses, skips loopback too).
"""
from __future__ import annotations

import base64
import ipaddress
import os
import ssl
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from sm_lint.errors import EnvironmentFailure, UsageError
from sm_lint.image.registry_auth import Credentials, credentials_for, parse_challenges, pick, token_request
from sm_lint.image.sources import RegistryOptions

if TYPE_CHECKING:
    import requests

DEFAULT_TIMEOUT = 30.0  # seconds to connect, and of silence while reading; SM_LINT_REGISTRY_TIMEOUT
TRIES = 5  # for a 429/5xx answer: the first try and four retries, 0.5, 1, 2 and 4 s apart
MAX_RETRY_AFTER = 30.0  # a registry's Retry-After is obeyed up to this many seconds
USER_AGENT = "sm-lint (registry client; requests)"


def timeout_from_env() -> float:
    text = os.environ.get("SM_LINT_REGISTRY_TIMEOUT", "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"SM_LINT_REGISTRY_TIMEOUT={text!r} is not a positive number of seconds")
    return value


def is_loopback(host: str) -> bool:
    """Whether HOST[:PORT] names this machine."""
    name = _hostname(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        return host[1:host.find("]")].lower()
    if host.count(":") == 1:
        return host.split(":")[0].lower()
    return host.lower()


class RegistryClient:
    """GET requests to one repository of one registry, authenticated as Docker would be."""

    def __init__(self, host: str, repository: str, options: RegistryOptions, what: str) -> None:
        import requests

        self.host = host  # as in the reference: "docker.io", "127.0.0.1:5000", "x.dkr.ecr...amazonaws.com"
        self.api_host = "registry-1.docker.io" if host == "docker.io" else host
        self.repository = repository
        self.what = what  # how messages name the image: "registry:HOST/NAME:TAG"
        self.timeout = timeout_from_env()
        self.insecure = host in options.insecure or _hostname(host) in options.insecure
        if self.insecure:  # the user asked for unverified TLS: urllib3's warning would say it on every request
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.loopback = is_loopback(self.api_host)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        certs = docker_certs(self.api_host)
        adapter = _adapter(([options.ca_cert] if options.ca_cert else []) + certs.ca_files)
        self.session.mount("https://", adapter)
        if certs.client:
            self.session.cert = certs.client
        self.session.mount("http://", _adapter())
        self.base = ""
        self._authorization: Optional[str] = None
        self._challenge: Any = None
        self._credentials: Optional[Credentials] = None

    def close(self) -> None:
        self.session.close()

    # -- requests ------------------------------------------------------------------------------
    def get(self, path: str, accept: str = "", stream: bool = False,
            extra: Optional[Dict[str, str]] = None) -> "requests.Response":
        """GET BASE + path; authenticates on a 401 once, as the challenge says. Answers other than
        401 come back to the caller, which knows what a 404 means there."""
        if not self.base:
            self._ping()
        headers = dict(extra or {}, **({"Accept": accept} if accept else {}))
        try:
            response = self._send(self.base + path, headers, stream)
            if response.status_code == 401:
                challenge = pick(parse_challenges(response.headers.get("WWW-Authenticate", ""))) or self._challenge
                response.close()
                self._authenticate(challenge, path)
                response = self._send(self.base + path, headers, stream)
                if response.status_code == 401:
                    response.close()
                    raise self._refused(response)
        except _TLSProblem as problem:  # a redirect to storage whose certificate is not trusted, say
            raise self._tls_failure(problem) from None
        return response

    def _send(self, url: str, headers: Dict[str, str], stream: bool, authorized: bool = True,
              verify_tls: Optional[bool] = None) -> "requests.Response":
        import requests

        if authorized and self._authorization:
            headers = dict(headers, Authorization=self._authorization)
        verify = (not self.insecure) if verify_tls is None else verify_tls
        proxies = {"http": None, "https": None} if self.loopback else None
        try:
            return self.session.get(url, headers=headers, stream=stream, timeout=(self.timeout, self.timeout),
                                    verify=verify, proxies=proxies)
        except requests.exceptions.SSLError as exc:
            raise _TLSProblem(exc) from None
        except requests.RequestException as exc:
            failure = self.unreachable(exc)
            if _timed_out(exc) or isinstance(exc, requests.exceptions.ConnectTimeout):
                raise _TimedOut(str(failure)) from None
            raise failure from None

    def unreachable(self, exc: BaseException) -> EnvironmentFailure:
        """A failure of the connection itself, as one line."""
        import requests

        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return EnvironmentFailure(f"{self.what}: registry {self.host} did not answer within {self.timeout:g} s"
                                      " (SM_LINT_REGISTRY_TIMEOUT sets the limit)")
        if _timed_out(exc):
            return EnvironmentFailure(f"{self.what}: registry {self.host} {self.cause(exc)}")
        return EnvironmentFailure(f"{self.what}: cannot reach registry {self.host}: {self.cause(exc)}")

    def cause(self, exc: BaseException) -> str:
        """What went wrong with the connection, in a few words."""
        if _timed_out(exc):
            return f"sent nothing for {self.timeout:g} s (SM_LINT_REGISTRY_TIMEOUT sets the limit)"
        if "IncompleteRead" in str(exc) or "Connection broken" in str(exc):
            return "the connection closed before the end"
        from sm_lint.image.engine import _one_line

        return _one_line(exc)

    def schemes(self) -> Tuple[str, ...]:
        """HTTPS always first; plain HTTP after it only for loopback and --insecure-registry."""
        return ("https", "http") if self.loopback or self.insecure else ("https",)

    def _ping(self) -> None:
        """`GET /v2/`: which scheme the registry speaks, and the challenge it sets, if any."""
        plain_allowed = "http" in self.schemes()
        try:
            response = self._send(f"https://{self.api_host}/v2/", {}, False, authorized=False)
            self.base = f"https://{self.api_host}"
        except _TimedOut:
            raise  # the same port over HTTP would keep the user waiting as long again
        except (_TLSProblem, EnvironmentFailure) as problem:
            if isinstance(problem, _TLSProblem) and (problem.untrusted or not plain_allowed):
                raise self._tls_failure(problem) from None
            if not plain_allowed:
                raise
            # A loopback or --insecure-registry host that does not speak TLS (or has no HTTPS
            # port): plain HTTP, as Docker falls back for these. Its failure is the one reported.
            response = self._send(f"http://{self.api_host}/v2/", {}, False, authorized=False)
            self.base = f"http://{self.api_host}"
        with response:
            if response.status_code == 401:
                self._challenge = pick(parse_challenges(response.headers.get("WWW-Authenticate", "")))
            elif response.status_code == 404:
                raise EnvironmentFailure(f"{self.what}: {self.base} has no registry API (GET /v2/ answered 404)")
            elif response.status_code >= 400:
                raise self.status_failure(response, "GET /v2/")

    def _tls_failure(self, problem: "_TLSProblem") -> EnvironmentFailure:
        if problem.untrusted and problem.host and problem.host != self.api_host:
            return EnvironmentFailure(
                f"{self.what}: the TLS certificate of {problem.host}, where registry {self.host} sent the download,"
                f" is not trusted ({problem.reason}); give its CA with --ca-cert FILE")
        if problem.untrusted:
            return EnvironmentFailure(
                f"{self.what}: the TLS certificate of registry {self.host} is not trusted ({problem.reason}); give"
                f" its CA with --ca-cert FILE, or --insecure-registry {self.host} to skip the check")
        return EnvironmentFailure(f"{self.what}: TLS with registry {self.host} failed: {problem.reason}")

    # -- authentication --------------------------------------------------------------------------
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = credentials_for(self.host)
        return self._credentials

    def _authenticate(self, challenge: Any, path: str) -> None:
        if challenge is None:
            raise EnvironmentFailure(f"{self.what}: registry {self.host} answered 401 without a challenge sm-lint"
                                     " knows (WWW-Authenticate: Bearer or Basic)")
        credentials = self.credentials()
        if challenge.scheme == "basic":
            if not credentials.username:
                raise self._needs_login()
            pair = f"{credentials.username}:{credentials.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode("ascii")
            return
        self._authorization = "Bearer " + self._token(challenge, credentials)

    def _token(self, challenge: Any, credentials: Credentials) -> str:
        """A Bearer token from the challenge's realm (Docker's token flow): with the refresh token
        (POST, OAuth2) or the username and password (GET, basic auth), or anonymous."""
        import requests

        realm, query = token_request(challenge, f"repository:{self.repository}:pull")
        if not realm.startswith(("https://", "http://")):
            raise EnvironmentFailure(f"{self.what}: registry {self.host} names no usable token realm ({realm!r})")
        realm_host = realm.split("://", 1)[1].split("/", 1)[0]
        if realm.startswith("http://") and credentials.any and not (is_loopback(realm_host) or self.insecure):
            raise EnvironmentFailure(f"{self.what}: registry {self.host} asks for credentials over plain HTTP"
                                     f" ({realm}): refused")
        proxies = {"http": None, "https": None} if is_loopback(realm_host) else None
        verify = not self.insecure
        try:
            if credentials.identity_token:
                form = dict(query, grant_type="refresh_token", refresh_token=credentials.identity_token,
                            client_id="sm-lint")
                response = self.session.post(realm, data=form, timeout=(self.timeout, self.timeout),
                                             verify=verify, proxies=proxies)
            else:
                auth = (credentials.username, credentials.password) if credentials.username else None
                response = self.session.get(realm, params=query, auth=auth, timeout=(self.timeout, self.timeout),
                                            verify=verify, proxies=proxies)
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(_TLSProblem(exc)) from None
        except requests.RequestException as exc:
            raise self.unreachable(exc) from None
        with response:
            if response.status_code in (401, 403):
                raise self._needs_login() if not credentials.any else self._refused(response)
            if response.status_code >= 400:
                raise self.status_failure(response, f"the token request to {realm}")
            try:
                document = response.json()
            except ValueError:
                document = None
        token = (document or {}).get("token") or (document or {}).get("access_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            raise EnvironmentFailure(f"{self.what}: the token service {realm} sent no token")
        return token

    def _needs_login(self) -> EnvironmentFailure:
        return EnvironmentFailure(f"{self.what}: registry {self.host} needs credentials to read {self.repository};"
                                  f" none are configured for it (`docker login {self.host}`, or a credential helper"
                                  " in the Docker config)")

    def _refused(self, response: Any) -> EnvironmentFailure:
        credentials = self.credentials()
        if not credentials.any:
            return self._needs_login()
        detail = registry_error(response)
        return EnvironmentFailure(f"{self.what}: registry {self.host} refused the credentials from "
                                  f"{credentials.origin} for {self.repository}"
                                  f" ({response.status_code}{': ' + detail if detail else ''})")

    def status_failure(self, response: Any, doing: str) -> EnvironmentFailure:
        detail = registry_error(response)
        tried = " (after retries)" if response.status_code == 429 or response.status_code >= 500 else ""
        return EnvironmentFailure(f"{self.what}: registry {self.host} answered {response.status_code}"
                                  f" {response.reason or ''} to {doing}{tried}{': ' + detail if detail else ''}")


def _timed_out(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in str(exc).lower()


def registry_error(response: Any) -> str:
    """The registry's own words: the first entry of the Distribution API's error body."""
    try:
        document = response.json()
        first = document["errors"][0]
        text = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except Exception:  # noqa: BLE001 - any body at all: an HTML error page, nothing, bad JSON
        return ""
    return " ".join(str(text).split())[:200]


class _TimedOut(EnvironmentFailure):
    """The registry did not answer in time."""


class _TLSProblem(Exception):
    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        text = str(exc)
        request = getattr(exc, "request", None)
        url = getattr(request, "url", "") or ""
        self.host = url.split("://", 1)[1].split("/", 1)[0] if "://" in url else ""  # where TLS failed
        self.untrusted = "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text
        detail = text.split("certificate verify failed:", 1)[-1] if self.untrusted else text
        from sm_lint.image.engine import _one_line

        self.reason = _one_line(Exception(detail.strip(" ')\"(")))[:200]


class DockerCerts(NamedTuple):
    ca_files: List[str]  # CAs to trust for this registry, on top of the usual bundle
    client: Optional[Tuple[str, str]]  # (certificate, key) to present, for registries that ask


CERTS_DIRS = ("/etc/docker/certs.d", "~/.config/docker/certs.d")  # the engine's; rootless Docker's


def docker_certs(host: str, roots: Sequence[str] = CERTS_DIRS) -> DockerCerts:
    """What Docker trusts and presents for `host` (HOST[:PORT]): `certs.d/HOST/*.crt` are CAs,
    a `NAME.cert` with its `NAME.key` is a client certificate (Docker's registry TLS setup)."""
    ca_files: List[str] = []
    client: Optional[Tuple[str, str]] = None
    for root in roots:
        folder = os.path.join(os.path.expanduser(root), host)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        ca_files += [os.path.join(folder, name) for name in names if name.endswith(".crt")]
        for name in names:
            key = name[:-len(".cert")] + ".key"
            if client is None and name.endswith(".cert") and key in names:
                client = (os.path.join(folder, name), os.path.join(folder, key))
    return DockerCerts(ca_files, client)


def _adapter(ca_files: Sequence[str] = ()) -> Any:
    """A transport adapter that retries 429/5xx with backoff (Retry-After obeyed, capped) and
    trusts `ca_files` (--ca-cert, Docker's certs.d) on top of the usual bundle."""
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class _Retry(Retry):
        def parse_retry_after(self, retry_after: str) -> float:
            return min(super().parse_retry_after(retry_after), MAX_RETRY_AFTER)

    retry = _Retry(total=TRIES - 1, connect=1, read=1, status=TRIES - 1, redirect=10, other=0,
                   backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                   allowed_methods=frozenset({"GET", "HEAD", "POST"}), raise_on_status=False,
                   respect_retry_after_header=True)
    context = _ssl_context(ca_files) if ca_files else None

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            if context is not None:
                kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            if context is not None:
                kwargs["ssl_context"] = context
            return super().proxy_manager_for(*args, **kwargs)

    return _Adapter(max_retries=retry, pool_maxsize=4)


def _ssl_context(ca_files: Sequence[str]) -> ssl.SSLContext:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    context = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
    for ca_file in ca_files:
        try:
            context.load_verify_locations(cafile=ca_file)
        except FileNotFoundError:
            raise UsageError(f"CA file {ca_file!r}: no such file") from None
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"CA file {ca_file!r}: not a PEM certificate ({getattr(exc, 'reason', None) or exc})"
                             ) from None
    return context
