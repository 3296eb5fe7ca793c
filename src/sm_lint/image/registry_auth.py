"""Registry credentials as Docker finds them, and the challenges a registry answers 401 with.

Credentials: the Docker CLI's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
`credHelpers[host]`, else `credsStore`, run as the `docker-credential-NAME` programs (so ECR works
through `docker-credential-ecr-login`), then `auths[host]`. Reading the config, choosing the
helper and matching `auths` keys (`https://host/v1/` or `host`; Docker Hub's odd
`https://index.docker.io/v1/`) is the docker SDK's code (`docker.auth`). The helper itself is run
here, not through the SDK's `credentials.Store`, which lets the helper's stderr through to ours
and waits for a hung helper forever.

Challenges: RFC 7235 `WWW-Authenticate` headers, `Bearer realm=...,service=...,scope=...` (the
Docker token flow every public registry and ECR use) and `Basic realm=...`. requests has no parser
for them; the grammar is small and fixed, so it is here (the PyPI `www-authenticate` package has
not been released since 2016).
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from sm_lint.errors import EnvironmentFailure


class Credentials(NamedTuple):
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token (`docker login` to some registries stores one)
    origin: str = ""  # where they came from, for messages: "credHelpers (ecr-login)", "auths"

    @property
    def any(self) -> bool:
        return bool(self.username or self.identity_token)


class Challenge(NamedTuple):
    scheme: str  # "bearer" or "basic", lower case
    params: Dict[str, str]


def credentials_for(host: str) -> Credentials:
    """What Docker would log in to `host` with ("docker.io" for Docker Hub); none when nothing is
    configured. A configured helper that fails is an EnvironmentFailure, as `docker pull` fails."""
    import docker.auth
    import docker.errors

    try:
        config = docker.auth.load_config()
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise EnvironmentFailure(f"cannot read the Docker config for {host}'s credentials: {exc}") from None
    helper = config.get_credential_store(host)  # credHelpers[host], else credsStore
    if helper:
        server = docker.auth.INDEX_URL if host == docker.auth.INDEX_NAME else host
        found = _from_helper(str(helper), server, host)
        if found is not None:
            return found
    entry = docker.auth.AuthConfig({"auths": dict(config.auths)}).resolve_authconfig(host) or {}
    if entry.get("IdentityToken"):
        return Credentials(identity_token=str(entry["IdentityToken"]), origin="auths")
    return Credentials(str(entry.get("username") or ""), str(entry.get("password") or ""), "", "auths")


HELPER_TIMEOUT = 60.0  # seconds for a credential helper (ecr-login may call AWS STS first)


def _from_helper(name: str, server: str, host: str) -> Optional[Credentials]:
    """`docker-credential-NAME get` with the server on stdin, as the Docker CLI runs it; None
    when the helper has nothing for the server (Docker then falls back to `auths`). Its output is
    captured (helpers print their errors there) and it gets HELPER_TIMEOUT seconds."""
    import json
    import shutil
    import subprocess

    program = f"docker-credential-{name}"
    found = shutil.which(program)
    if found is None:
        raise EnvironmentFailure(f"the Docker config names the credential helper {program} for {host}, and it is not"
                                 " on PATH")
    try:
        done = subprocess.run([found, "get"], input=server.encode(), capture_output=True, timeout=HELPER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EnvironmentFailure(f"the credential helper {program} did not answer for {host} within"
                                 f" {HELPER_TIMEOUT:g} s") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot run the credential helper {program}: {exc.strerror or exc}") from None
    said = " ".join((done.stdout or done.stderr).decode("utf-8", "replace").split())[:300]
    if done.returncode != 0:
        if "credentials not found" in said.lower():
            return None
        raise EnvironmentFailure(f"the credential helper {program} failed for {host}: {said or f'exit {done.returncode}'}")
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    except (ValueError, AttributeError):
        raise EnvironmentFailure(f"the credential helper {program} answered {host} with no JSON credentials") from None
    if not username and not secret:
        return None
    origin = f"credential helper {program}"
    if username == "<token>":  # an identity token (docker-credential-helpers' convention)
        return Credentials(identity_token=secret, origin=origin)
    return Credentials(username, secret, "", origin)


# -- WWW-Authenticate ----------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# name=value or name="quoted \"value\"", then a comma or the end
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))[ \t]*(?:,|$)')
_SCHEME = re.compile(rf"[ \t,]*({_TOKEN})(?:[ \t]+|$)")


def parse_challenges(header: str) -> List[Challenge]:
    """The challenges of one WWW-Authenticate header value, in order (`Basic realm="a", Bearer
    realm="b"` is two). An unparseable tail ends the list rather than raise: a registry's odd
    header must not hide the 401 it came with."""
    challenges: List[Challenge] = []
    pos = 0
    while pos < len(header):
        scheme = _SCHEME.match(header, pos)
        if not scheme:
            break
        pos = scheme.end()
        params: Dict[str, str] = {}
        while pos < len(header):
            param = _PARAM.match(header, pos)
            if not param:
                break  # the next challenge's scheme, or garbage
            quoted = param.group(2)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else param.group(3)
            pos = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
    return challenges


def pick(challenges: List[Challenge]) -> Optional[Challenge]:
    """Bearer over Basic, as Docker's client prefers the token flow."""
    for wanted in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == wanted:
                return challenge
    return None


def token_request(challenge: Challenge, scope: str) -> Tuple[str, Dict[str, str]]:
    """The realm and the query of a Bearer token request."""
    realm = challenge.params.get("realm", "")
    query = {"scope": challenge.params.get("scope") or scope}
    if challenge.params.get("service"):
        query["service"] = challenge.params["service"]
    return realm, query
