"""Credentials: ``Authorization`` header providers and their discovery, never showing a secret."""

from __future__ import annotations

import asyncio
import functools
import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from . import logs
from .errors import ConfigurationError, TransportError, http_error_fields
from .timestamps import parse_iso_datetime

_LOG = logs.get("auth")
_ENV_SOURCES = "YC_API_KEY, YC_IAM_TOKEN, YC_OAUTH_TOKEN, YC_TOKEN"
_NO_CREDENTIALS = f"pass auth= or set {_ENV_SOURCES}"
# Read at call time, so the tests can point them at 127.0.0.1 or at nothing.
IAM_TOKEN_ENDPOINT = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
METADATA_ADDR = "169.254.169.254"
METADATA_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
YC_EXECUTABLE = "yc"
Clock = Callable[[], float]


@runtime_checkable
class AuthProvider(Protocol):
    """Supplies the ``Authorization`` header; ``describe()`` names its kind, never the secret.

    To write your own, subclass it (the official SDK's ``BaseAuth``) and write
    ``authorization()`` and ``describe()``; ``forget_loop_state()`` has a default.
    """

    async def authorization(self) -> str: ...
    def describe(self) -> str: ...

    def forget_loop_state(self) -> None:
        """Called in a forked child before its first call: drop what belonged to the parent's
        event loop (an ``asyncio.Lock``, an open connection). Nothing, by default."""
        return None


@runtime_checkable
class _HeaderSource(Protocol):  # a provider written without subclassing AuthProvider
    async def authorization(self) -> str: ...
    def describe(self) -> str: ...


class _Declared:
    """A ``_HeaderSource`` seen through the whole ``AuthProvider`` interface."""

    def __init__(self, source: _HeaderSource) -> None:
        self._source = source

    async def authorization(self) -> str:
        return await self._source.authorization()

    def describe(self) -> str:
        return self._source.describe()

    def forget_loop_state(self) -> None:
        return None


def _check_secret(kind: str, secret: object) -> str:
    if not isinstance(secret, str):
        raise TypeError(f"{kind} must be a str, not {type(secret).__name__}")
    secret = secret.strip()
    if not secret:
        raise ConfigurationError(f"{kind} is empty; {_NO_CREDENTIALS}")
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise ConfigurationError(f"{kind} contains whitespace or control characters")
    return secret


class _Provider(AuthProvider):
    _kind = _header = ""

    async def authorization(self) -> str:
        return self._header

    def describe(self) -> str:
        return self._kind


class APIKeyAuth(_Provider):
    """An API key, sent as ``Api-Key <key>``."""

    _kind = "API key"

    def __init__(self, api_key: str) -> None:
        self._header = f"Api-Key {_check_secret(self._kind, api_key)}"


class IAMTokenAuth(_Provider):
    """A ready IAM token, sent as ``Bearer <token>``; it is not refreshed."""

    _kind = "IAM token"

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {_check_secret(self._kind, token)}"


class EnvIAMTokenAuth(_Provider):
    """An IAM token read from ``YC_TOKEN`` at every call (DataSphere keeps it fresh)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env, self._kind = os.environ if env is None else env, "IAM token from YC_TOKEN"

    async def authorization(self) -> str:
        return f"Bearer {_check_secret('IAM token in YC_TOKEN', self._env.get('YC_TOKEN', ''))}"


def _refresh_at(now: float, expires_at: float) -> float:
    return expires_at - min(3600.0, 0.1 * (expires_at - now))


class _RefreshingAuth(_Provider):
    """An IAM token from ``_fetch``, cached until the refresh moment it returns."""

    def __init__(self, clock: Clock) -> None:
        self._clock, self._lock = clock, asyncio.Lock()
        self._token, self._refresh_at = "", float("-inf")  # fetched at the first call

    def forget_loop_state(self) -> None:
        self._lock = asyncio.Lock()  # after fork: the old one belonged to the parent's loop

    def start_with(self, token: str, refresh_at: float) -> None:
        """Use ``token``, fetched already, until ``refresh_at`` (by this provider's clock)."""
        self._token, self._refresh_at = token, refresh_at

    async def authorization(self) -> str:
        async with self._lock:  # one fetch at a time; a fresh token never waits here
            if self._clock() > self._refresh_at:
                self._token, self._refresh_at = await self._fetch(self._clock())
        return f"Bearer {self._token}"

    _fetch: Callable[[float], Awaitable[tuple[str, float]]]  # the token and when to refresh it


class OAuthTokenAuth(_RefreshingAuth):
    """A Yandex OAuth token exchanged for IAM tokens, cached and refreshed before expiry."""

    _kind = "OAuth token (exchanged for IAM tokens)"

    def __init__(self, oauth_token: str, *, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self._oauth_token = _check_secret("OAuth token", oauth_token)

    def _error(self, why: str, code: str, **fields: Any) -> TransportError:
        why = why.replace(self._oauth_token, "<hidden>")
        return TransportError(why, code=code, endpoint=IAM_TOKEN_ENDPOINT, method="POST", **fields)

    async def _fetch(self, now: float) -> tuple[str, float]:
        import httpx

        body = {"yandexPassportOauthToken": self._oauth_token}
        try:  # a client per exchange (twice a day): nothing left open, loop-bound or forked
            async with httpx.AsyncClient(timeout=30.0) as client:
                response = await client.post(IAM_TOKEN_ENDPOINT, json=body)
        except httpx.HTTPError as exc:
            why = f"IAM token exchange failed: {type(exc).__name__}: {exc}"
            code = "DEADLINE_EXCEEDED" if isinstance(exc, httpx.TimeoutException) else "UNAVAILABLE"
            raise self._error(why, code) from None
        if not response.is_success:
            message, fields = http_error_fields(response)
            raise self._error(f"IAM token exchange was refused: {message}", **fields)
        try:
            answer = response.json()
            token, expires = _check_secret("iamToken", answer["iamToken"]), now + 12 * 3600.0
            if (stamp := answer.get("expiresAt")) is not None:  # else 12 h, the IAM tokens' life
                expires = parse_iso_datetime(stamp).timestamp()  # RFC 3339, with its offset
        except (ValueError, TypeError, KeyError, AttributeError):
            why = "IAM token exchange answered without a valid iamToken and expiresAt"
            request_id = response.headers.get("x-request-id")
            raise self._error(why, "UNKNOWN", server_request_id=request_id) from None
        return token, _refresh_at(now, expires)


class MetadataAuth(_RefreshingAuth):
    """Service-account IAM tokens from the metadata service at ``addr``, refreshed before expiry."""

    def __init__(self, addr: str = METADATA_ADDR, *, clock: Clock = time.time) -> None:
        super().__init__(clock)
        self._addr, self._kind = addr, f"IAM token from the metadata service at {addr}"

    def request_token(self, connect_timeout: float, now: float) -> tuple[str, float]:
        """One blocking request: the token and when to refresh it (ConnectionError: none)."""
        conn = http.client.HTTPConnection(self._addr, timeout=connect_timeout)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(2.0)
            conn.request("GET", METADATA_PATH, headers={"Metadata-Flavor": "Google"})
            response = conn.getresponse()
            body = response.read(1 << 16)
        except TimeoutError:
            waited = connect_timeout if conn.sock is None else 2.0
            raise ConnectionError(f"no answer in {waited:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise ConnectionError(f"{type(exc).__name__}: {why}") from None
        finally:
            conn.close()
        if response.status != 200:
            raise ConnectionError(f"HTTP {response.status}")
        try:
            data = json.loads(body)
            token = _check_secret("access_token", data["access_token"])
            expires_in = float(data.get("expires_in", 3600))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ConnectionError("answered without an access_token and expires_in") from None
        return token, _refresh_at(now, now + expires_in)

    async def _fetch(self, now: float) -> tuple[str, float]:
        try:
            return await asyncio.to_thread(self.request_token, 2.0, now)
        except ConnectionError as exc:
            why, endpoint = f"no IAM token from the metadata service: {exc}", f"http://{self._addr}"
            raise TransportError(why, code="UNAVAILABLE", endpoint=endpoint, method="GET") from None


class YcCliAuth(_RefreshingAuth):
    """IAM tokens from ``yc iam create-token`` (``--profile`` when given), rerun every hour."""

    def __init__(
        self, profile: str | None = None, *, executable: str = "yc", clock: Clock = time.time
    ) -> None:
        super().__init__(clock)
        self._argv = [executable, "iam", "create-token", "--no-user-output"]
        self._argv += ["--profile", profile] if profile else []
        self._kind = "IAM token from the yc CLI" + (f" (profile {profile})" if profile else "")

    async def _fetch(self, now: float) -> tuple[str, float]:
        command = " ".join(self._argv[:3] + self._argv[4:])
        run = functools.partial(subprocess.run, capture_output=True, text=True, errors="replace")
        try:  # subprocess.run kills yc when it hangs (a login prompt, say)
            done = await asyncio.to_thread(run, self._argv, stdin=subprocess.DEVNULL, timeout=60)
        except subprocess.TimeoutExpired:
            raise ConfigurationError(f"`{command}` gave no token in 60 s") from None
        if done.returncode or not done.stdout.split():
            why = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ConfigurationError(f"`{command}` failed (exit {done.returncode}): {why[0][:200]}")
        return done.stdout.split()[-1], now + 3600.0


class YandexCloudCLIAuth(YcCliAuth):
    """The official SDK's name and arguments for :class:`YcCliAuth`: ``token`` is used until
    its first refresh (an hour), ``endpoint`` is passed to ``yc`` as ``--endpoint``."""

    def __init__(
        self, token: str | None = None, endpoint: str | None = None, yc_profile: str | None = None
    ) -> None:
        super().__init__(yc_profile)
        if endpoint:
            self._argv += ["--endpoint", endpoint]
        if token is not None:
            self.start_with(_check_secret("token", token), self._clock() + 3600.0)


class NoAuth(_Provider):
    """Sends no ``Authorization`` header (a server that needs none, such as behind a proxy
    that adds it)."""

    _kind = "no credentials (NoAuth)"


def _discover(env: Mapping[str, str], clock: Clock) -> AuthProvider:
    if api_key := env.get("YC_API_KEY", "").strip():
        return APIKeyAuth(api_key)
    if iam_token := env.get("YC_IAM_TOKEN", "").strip():
        return IAMTokenAuth(iam_token)
    if oauth_token := env.get("YC_OAUTH_TOKEN", "").strip():
        return OAuthTokenAuth(oauth_token, clock=clock)
    if env.get("YC_TOKEN", "").strip():
        return EnvIAMTokenAuth(env)
    addr = env.get("YC_METADATA_ADDR", "").strip()
    metadata = MetadataAuth(addr or METADATA_ADDR, clock=clock)
    try:  # the probe's token is used first; an explicit address is given longer to answer
        metadata.start_with(*metadata.request_token(1.0 if addr else 0.1, clock()))
        return metadata
    except ConnectionError as exc:
        metadata_failure = f"metadata service at {addr or METADATA_ADDR} ({exc})"
    if executable := shutil.which(YC_EXECUTABLE, path=env.get("PATH")):
        profile = env.get("YC_PROFILE", "").strip() or None
        return YcCliAuth(profile, executable=executable, clock=clock)
    raise ConfigurationError(
        f"no credentials: tried auth=, {_ENV_SOURCES}, {metadata_failure}, yc CLI (not on PATH)"
    )


def coerce_auth(
    auth: str | AuthProvider | None, env: Mapping[str, str], *, clock: Clock = time.time
) -> AuthProvider:
    """A provider for ``auth=``: ``None`` discovers one, a string is recognised by its shape."""
    if auth is None:
        provider = _discover(env, clock)
        _LOG.info("credentials: %s", provider.describe())  # the kind, never the secret
        return provider
    if isinstance(auth, AuthProvider):
        return auth
    if isinstance(auth, _HeaderSource):
        return _Declared(auth)
    if not isinstance(auth, str):
        raise TypeError(f"auth must be a str or an AuthProvider, not {type(auth).__name__}")
    value = auth.strip()
    if not value:
        raise ConfigurationError(f"auth is an empty string; {_NO_CREDENTIALS}")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() in ("api-key", "bearer"):
        if not rest:
            raise ConfigurationError(f"auth {value!r} has no credential after the scheme")
        return APIKeyAuth(rest) if scheme.lower() == "api-key" else IAMTokenAuth(rest)
    if value.startswith("t1."):
        return IAMTokenAuth(value)
    return OAuthTokenAuth(value) if value.startswith(("y0_", "AQAA")) else APIKeyAuth(value)
