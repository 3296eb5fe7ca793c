"""Registry credentials as Docker finds them, and the challenges a registry answers 401 with.

Credentials: the Docker CLI's config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
`credHelpers[host]`, then `credsStore`, run as the `docker-credential-NAME` programs (so ECR works
through `docker-credential-ecr-login`), then `auths[host]`. The lookup is the docker SDK's own
(`docker.auth`), the code docker-py pulls with, so the precedence and Docker Hub's odd key
(`https://index.docker.io/v1/`) are Docker's and not a copy of them.

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
    import warnings

    import docker.auth
    import docker.errors

    try:
        config = docker.auth.load_config()
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise EnvironmentFailure(f"cannot read the Docker config for {host}'s credentials: {exc}") from None
    helper = config.get_credential_store(host) if (config.creds_store or config.cred_helpers) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing helper program: said in the error below
            found = config.resolve_authconfig(host)
    except docker.errors.DockerException as exc:
        detail = " ".join(str(exc).split())
        raise EnvironmentFailure(
            f"the credential helper docker-credential-{helper} failed for {host}: {_helper_error(detail)}") from None
    if not found:
        return Credentials()
    origin = f"credential helper docker-credential-{helper}" if "ServerAddress" in found and helper else "auths"
    if found.get("IdentityToken"):
        return Credentials(identity_token=str(found["IdentityToken"]), origin=origin)
    username = found.get("Username") or found.get("username") or ""
    password = found.get("Password") or found.get("password") or ""
    return Credentials(str(username), str(password), "", origin)


def _helper_error(detail: str) -> str:
    # docker.credentials wraps the helper's own message: "Credentials store error: StoreError('...')"
    match = re.search(r"StoreError\(['\"](.*)['\"]\)", detail)
    return (match.group(1) if match else detail)[:300]


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
