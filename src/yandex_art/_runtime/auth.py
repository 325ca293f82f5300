"""Credentials: providers of the ``Authorization`` header value.

No provider ever shows its secret in ``repr``/``str`` or in an error message.
With ``auth=None`` the sources are tried in the official SDK's order:
``YC_API_KEY``, ``YC_IAM_TOKEN``, ``YC_OAUTH_TOKEN``, ``YC_TOKEN``, the cloud
metadata service (probed only when nothing else is set), the ``yc`` CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from . import logs
from .errors import ConfigurationError, TransportError, http_error_fields

if TYPE_CHECKING:
    import httpx

IAM_TOKEN_ENDPOINT = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
_HIDDEN = "<hidden>"
_LOG = logs.get("auth")
_ENV_SOURCES = "YC_API_KEY, YC_IAM_TOKEN, YC_OAUTH_TOKEN, YC_TOKEN"
_NO_CREDENTIALS = f"pass auth= or set {_ENV_SOURCES}"
# Where the VM / Cloud Function metadata service answers (YC_METADATA_ADDR overrides
# it) and the CLI looked up on PATH; the test suite points both at nothing.
METADATA_ADDR = "169.254.169.254"
METADATA_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
PROBE_TIMEOUT = 0.1
YC_EXECUTABLE = "yc"


@runtime_checkable
class AuthProvider(Protocol):
    """Supplies the value of the ``Authorization`` header."""

    async def authorization(self) -> str:
        """The full header value, e.g. ``"Api-Key ..."`` or ``"Bearer ..."``."""
        ...

    def describe(self) -> str:
        """What kind of credential this is; never the secret itself."""
        ...


def _check_secret(kind: str, secret: object) -> str:
    if not isinstance(secret, str):
        raise TypeError(f"{kind} must be a str, not {type(secret).__name__}")
    secret = secret.strip()
    if not secret:
        raise ConfigurationError(f"{kind} is empty; {_NO_CREDENTIALS}")
    if any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise ConfigurationError(f"{kind} contains whitespace or control characters")
    return secret


class APIKeyAuth:
    """An API key, sent as ``Api-Key <key>``."""

    __slots__ = ("_api_key",)

    def __init__(self, api_key: str) -> None:
        self._api_key = _check_secret("API key", api_key)

    async def authorization(self) -> str:
        return f"Api-Key {self._api_key}"

    def describe(self) -> str:
        return "API key"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_key={_HIDDEN})"


class IAMTokenAuth:
    """A ready IAM token, sent as ``Bearer <token>``; it is not refreshed."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = _check_secret("IAM token", token)

    async def authorization(self) -> str:
        return f"Bearer {self._token}"

    def describe(self) -> str:
        return "IAM token"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={_HIDDEN})"


class EnvIAMTokenAuth:
    """An IAM token read from an environment variable at every call (DataSphere's
    ``YC_TOKEN``): the environment that set it keeps it fresh."""

    __slots__ = ("_env", "_name")

    def __init__(self, env: Mapping[str, str] | None = None, name: str = "YC_TOKEN") -> None:
        self._env, self._name = os.environ if env is None else env, name
        self._token()

    def _token(self) -> str:
        return _check_secret(f"IAM token in {self._name}", self._env.get(self._name, ""))

    async def authorization(self) -> str:
        return f"Bearer {self._token()}"

    def describe(self) -> str:
        return f"IAM token from {self._name}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r})"


class _RefreshingAuth:
    """An IAM token from ``_fetch``, cached; refetched (one fetch at a time) when less
    than ``refresh_margin`` seconds, or a tenth of its lifetime, remain."""

    def __init__(self, *, refresh_margin: float, clock: Callable[[], float]) -> None:
        if refresh_margin < 0:
            raise ValueError(f"refresh_margin must be >= 0, got {refresh_margin!r}")
        self._refresh_margin = float(refresh_margin)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._iam_token: str | None = None
        self._obtained_at = self._expires_at = 0.0

    @property
    def expires_at(self) -> float | None:
        """When the cached IAM token expires (``clock()`` seconds), or ``None``."""
        return self._expires_at if self._iam_token is not None else None

    def forget_loop_state(self) -> None:
        """After fork: the lock belonged to the parent's loop."""
        self._lock = asyncio.Lock()

    async def authorization(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    requested_at = self._clock()
                    token, expires_at = await self._fetch(requested_at)
                    self._store(token, requested_at, expires_at)
        return f"Bearer {self._iam_token}"

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        """A new token and when it expires."""
        raise NotImplementedError

    def _store(self, token: str, obtained_at: float, expires_at: float) -> None:
        self._iam_token, self._obtained_at, self._expires_at = token, obtained_at, expires_at

    def _fresh(self) -> bool:
        margin = min(self._refresh_margin, 0.1 * (self._expires_at - self._obtained_at))
        return self._iam_token is not None and self._expires_at - self._clock() >= margin


class OAuthTokenAuth(_RefreshingAuth):
    """A Yandex OAuth token, exchanged for IAM tokens that are cached and refreshed.

    A new IAM token is fetched, one exchange at a time, when less than
    ``refresh_margin`` seconds (or a tenth of its lifetime) remain. A given
    ``http`` client is not closed by :meth:`aclose`; one made here is.
    """

    def __init__(
        self,
        oauth_token: str,
        *,
        endpoint: str = IAM_TOKEN_ENDPOINT,
        http: httpx.AsyncClient | None = None,
        refresh_margin: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._oauth_token = _check_secret("OAuth token", oauth_token)
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._endpoint = endpoint
        self._http = http
        self._owns_http = http is None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(oauth_token={_HIDDEN}, endpoint={self._endpoint!r})"

    def describe(self) -> str:
        return "OAuth token (exchanged for IAM tokens)"

    def forget_loop_state(self) -> None:
        super().forget_loop_state()
        if self._owns_http:
            self._http = None  # the parent's connections stay with the parent

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def _error(self, message: str, code: str, **fields: Any) -> TransportError:
        message = message.replace(self._oauth_token, _HIDDEN)
        return TransportError(message, code=code, endpoint=self._endpoint, method="POST", **fields)

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0)
        try:
            response = await self._http.post(
                self._endpoint, json={"yandexPassportOauthToken": self._oauth_token}
            )
        except httpx.TimeoutException as exc:
            why = f"IAM token exchange timed out ({type(exc).__name__})"
            raise self._error(why, "DEADLINE_EXCEEDED") from None
        except httpx.HTTPError as exc:
            why = f"IAM token exchange failed: {type(exc).__name__}: {exc}"
            raise self._error(why, "UNAVAILABLE") from None
        if not response.is_success:
            message, fields = http_error_fields(response)
            raise self._error(f"IAM token exchange was refused: {message}", **fields)
        answer = {"server_request_id": response.headers.get("x-request-id")}
        try:
            body = response.json()
            token = body["iamToken"]
            if not isinstance(token, str) or not token:
                raise TypeError
        except (ValueError, TypeError, KeyError):
            why = "IAM token exchange answered without an iamToken"
            raise self._error(why, "UNKNOWN", **answer) from None
        if body.get("expiresAt") is None:
            return token, requested_at + 12 * 3600.0  # IAM tokens live 12 h
        try:
            moment = datetime.fromisoformat(body["expiresAt"])
        except (TypeError, ValueError):
            why = f"IAM token exchange answered with a bad expiresAt {body['expiresAt']!r}"
            raise self._error(why, "UNKNOWN", **answer) from None
        return token, moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()


class _Unavailable(Exception):
    """A token source did not answer; the message says why, never with a secret."""


def _metadata_token(addr: str, connect_timeout: float, read_timeout: float) -> tuple[str, float]:
    """One blocking GET of the metadata service: ``(token, expires_in)``."""
    import http.client

    conn = http.client.HTTPConnection(addr, timeout=connect_timeout)
    try:
        try:
            conn.connect()
        except TimeoutError:
            raise _Unavailable(f"no answer in {connect_timeout:g} s") from None
        assert conn.sock is not None
        conn.sock.settimeout(read_timeout)
        conn.request("GET", METADATA_PATH, headers={"Metadata-Flavor": "Google"})
        response = conn.getresponse()
        body = response.read(1 << 16)
    except (OSError, http.client.HTTPException) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise _Unavailable(f"{type(exc).__name__}: {why}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise _Unavailable(f"HTTP {response.status}")
    try:
        data = json.loads(body)
        token, expires_in = data["access_token"], float(data.get("expires_in", 3600))
        if not isinstance(token, str) or not token or not expires_in > 0:
            raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _Unavailable("answered without an access_token and expires_in") from None
    return token, expires_in


class MetadataAuth(_RefreshingAuth):
    """IAM tokens of a VM's or Cloud Function's service account from the metadata
    service at ``addr`` (``host[:port]``), cached and refreshed like OAuthTokenAuth's."""

    def __init__(
        self,
        addr: str = METADATA_ADDR,
        *,
        timeout: float = 2.0,
        refresh_margin: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._addr, self._timeout = addr, timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(addr={self._addr!r})"

    def describe(self) -> str:
        return f"IAM token from the metadata service at {self._addr}"

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        try:
            token, expires_in = await asyncio.to_thread(
                _metadata_token, self._addr, self._timeout, self._timeout
            )
        except _Unavailable as exc:
            raise TransportError(
                f"no IAM token from the metadata service: {exc}",
                code="UNAVAILABLE",
                endpoint=f"http://{self._addr}",
                method="GET",
            ) from None
        return token, requested_at + expires_in


class YcCliAuth(_RefreshingAuth):
    """IAM tokens from ``yc iam create-token`` (``--profile`` when given), each reused
    for ``refresh_after`` seconds (IAM tokens live up to 12 h)."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        executable: str = YC_EXECUTABLE,
        refresh_after: float = 3600.0,
        timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=0.0, clock=clock)
        self._profile, self._executable = profile, executable
        self._refresh_after, self._timeout = refresh_after, timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(profile={self._profile!r}, executable={self._executable!r})"

    def describe(self) -> str:
        profile = f" (profile {self._profile})" if self._profile else ""
        return f"IAM token from the yc CLI{profile}"

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        import subprocess

        argv = [self._executable, "iam", "create-token", "--no-user-output"]
        argv += ["--profile", self._profile] if self._profile else []
        command = " ".join(argv[:3] + argv[4:])
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self._timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ConfigurationError(f"`{command}` gave no token in {self._timeout:g} s") from None
        lines = out.decode(errors="replace").split()
        if proc.returncode or not lines:
            why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ConfigurationError(f"`{command}` failed (exit {proc.returncode}): {why[0][:200]}")
        return lines[-1], requested_at + self._refresh_after


def auth_from_env(env: Mapping[str, str]) -> AuthProvider | None:
    """A provider from the first of ``YC_API_KEY``, ``YC_IAM_TOKEN``, ``YC_OAUTH_TOKEN``,
    ``YC_TOKEN`` that is set; nothing is probed."""
    if api_key := env.get("YC_API_KEY", "").strip():
        return APIKeyAuth(api_key)
    if iam_token := env.get("YC_IAM_TOKEN", "").strip():
        return IAMTokenAuth(iam_token)
    if oauth_token := env.get("YC_OAUTH_TOKEN", "").strip():
        return OAuthTokenAuth(oauth_token)
    if env.get("YC_TOKEN", "").strip():
        return EnvIAMTokenAuth(env)
    return None


def _discover(env: Mapping[str, str], clock: Callable[[], float]) -> AuthProvider:
    """The environment, then the metadata service, then the yc CLI; the error lists them all."""
    if (provider := auth_from_env(env)) is not None:
        return provider
    addr = env.get("YC_METADATA_ADDR", "").strip()
    # An explicit address is almost surely meant to answer: give it longer.
    connect_timeout = 1.0 if addr else PROBE_TIMEOUT
    addr = addr or METADATA_ADDR
    requested_at = clock()
    try:
        token, expires_in = _metadata_token(addr, connect_timeout, 2.0)
    except _Unavailable as exc:
        metadata_failure = f"metadata service at {addr} ({exc})"
    else:
        metadata = MetadataAuth(addr, clock=clock)
        metadata._store(token, requested_at, requested_at + expires_in)
        return metadata
    import shutil

    if executable := shutil.which(YC_EXECUTABLE, path=env.get("PATH")):
        profile = env.get("YC_PROFILE", "").strip() or None
        return YcCliAuth(profile, executable=executable, clock=clock)
    raise ConfigurationError(
        f"no credentials: tried auth=, {_ENV_SOURCES}, {metadata_failure}, yc CLI (not on PATH)"
    )


def coerce_auth(
    auth: str | AuthProvider | None,
    env: Mapping[str, str],
    *,
    clock: Callable[[], float] = time.time,
) -> AuthProvider:
    """Turn what the user passed as ``auth=`` into a provider.

    Strings are recognised by shape: ``"Api-Key ..."``/``"Bearer ..."`` header
    values, ``t1.`` IAM tokens, ``y0_``/``AQAA`` OAuth tokens, else an API key.
    ``None`` discovers the credentials (see the module docstring).
    """
    if auth is None:
        provider = _discover(env, clock)
        _LOG.info("credentials: %s", provider.describe())  # the kind, never the secret
        return provider
    if isinstance(auth, AuthProvider):
        return auth
    if not isinstance(auth, str):
        raise TypeError(f"auth must be a str or an AuthProvider, not {type(auth).__name__}")
    value = auth.strip()
    if not value:
        raise ConfigurationError(f"auth is an empty string; {_NO_CREDENTIALS}")
    if value.lower() in ("api-key", "bearer"):
        raise ConfigurationError(f"auth {value!r} has no credential after the scheme")
    if value.lower().startswith("api-key "):
        return APIKeyAuth(value[len("Api-Key ") :])
    if value.lower().startswith("bearer "):
        return IAMTokenAuth(value[len("Bearer ") :])
    if value.startswith("t1."):
        return IAMTokenAuth(value)
    if value.startswith(("y0_", "AQAA")):
        return OAuthTokenAuth(value)
    return APIKeyAuth(value)
