"""Credentials: providers of the ``Authorization`` header value.

No provider ever shows its secret in ``repr``/``str`` or in an error message.
With ``auth=None`` the sources are tried in the official SDK's order:
``YC_API_KEY``, ``YC_IAM_TOKEN``, ``YC_OAUTH_TOKEN``, ``YC_TOKEN``, the cloud
metadata service (probed only when nothing else is set), the ``yc`` CLI.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import ConfigurationError, TransportError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIKeyAuth",
    "AuthProvider",
    "EnvIAMTokenAuth",
    "IAMTokenAuth",
    "MetadataAuth",
    "OAuthTokenAuth",
    "YcCliAuth",
    "IAM_TOKEN_ENDPOINT",
    "auth_from_env",
    "coerce_auth",
]

IAM_TOKEN_ENDPOINT = "https://iam.api.cloud.yandex.net/iam/v1/tokens"
_DEFAULT_IAM_LIFETIME = 12 * 3600.0
_EXCHANGE_TIMEOUT = 30.0
_HIDDEN = "<hidden>"
_ENV_SOURCES = ("YC_API_KEY", "YC_IAM_TOKEN", "YC_OAUTH_TOKEN", "YC_TOKEN")
_NO_CREDENTIALS = "pass auth= or set " + ", ".join(_ENV_SOURCES)
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


class _RefreshingAuth:
    """An IAM token fetched by ``_fetch``, cached and refreshed before it expires.

    A new token is fetched when less than ``refresh_margin`` seconds (or a tenth
    of the token's lifetime, whichever is smaller) remain. One fetch at a time.
    """

    def __init__(self, *, refresh_margin: float, clock: Callable[[], float]) -> None:
        if refresh_margin < 0:
            raise ValueError(f"refresh_margin must be >= 0, got {refresh_margin!r}")
        self._refresh_margin = float(refresh_margin)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._iam_token: str | None = None
        self._obtained_at = 0.0
        self._expires_at = 0.0

    @property
    def expires_at(self) -> float | None:
        """When the cached IAM token expires (``clock()`` seconds), or ``None``."""
        return self._expires_at if self._iam_token is not None else None

    async def authorization(self) -> str:
        token = self._cached()
        if token is None:
            async with self._lock:
                token = self._cached()
                if token is None:
                    requested_at = self._clock()
                    token, expires_at = await self._fetch(requested_at)
                    self._store(token, requested_at, expires_at)
        return f"Bearer {token}"

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        """A new token and when it expires."""
        raise NotImplementedError

    def _store(self, token: str, obtained_at: float, expires_at: float) -> None:
        self._iam_token, self._obtained_at, self._expires_at = token, obtained_at, expires_at

    def _cached(self) -> str | None:
        if self._iam_token is None:
            return None
        lifetime = self._expires_at - self._obtained_at
        margin = min(self._refresh_margin, 0.1 * lifetime)
        if self._expires_at - self._clock() < margin:
            return None
        return self._iam_token


class OAuthTokenAuth(_RefreshingAuth):
    """A Yandex OAuth token, exchanged for IAM tokens that are cached and refreshed.

    A new IAM token is fetched when less than ``refresh_margin`` seconds (or a
    tenth of the token's lifetime, whichever is smaller) remain. Only one
    exchange runs at a time. ``http`` is used as given and not closed by
    :meth:`aclose`; without it the provider makes (and closes) its own client.
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

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def _fail(
        self, message: str, *, code: str, response: httpx.Response | None = None
    ) -> TransportError:
        message = message.replace(self._oauth_token, _HIDDEN)
        retry_after: float | None = None
        server_request_id: str | None = None
        if response is not None:
            server_request_id = response.headers.get("x-request-id")
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                retry_after = None
        return TransportError(
            message,
            code=code,
            endpoint=self._endpoint,
            method="POST",
            server_request_id=server_request_id,
            retry_after=retry_after,
        )

    async def _fetch(self, requested_at: float) -> tuple[str, float]:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=_EXCHANGE_TIMEOUT)
        try:
            response = await self._http.post(
                self._endpoint, json={"yandexPassportOauthToken": self._oauth_token}
            )
        except httpx.TimeoutException as exc:
            raise self._fail(
                f"IAM token exchange timed out ({type(exc).__name__})", code="DEADLINE_EXCEEDED"
            ) from None
        except httpx.HTTPError as exc:
            raise self._fail(
                f"IAM token exchange failed: {type(exc).__name__}: {exc}", code="UNAVAILABLE"
            ) from None

        if not response.is_success:
            raise self._fail(
                f"IAM token exchange was refused{_server_message(response)}",
                code=f"HTTP {response.status_code}",
                response=response,
            )
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        token = body.get("iamToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._fail(
                "IAM token exchange answered without an iamToken", code="UNKNOWN", response=response
            )
        expires_at = requested_at + _DEFAULT_IAM_LIFETIME
        raw_expiry = body.get("expiresAt") if isinstance(body, dict) else None
        if raw_expiry is not None:
            parsed = _parse_rfc3339(raw_expiry)
            if parsed is None:
                raise self._fail(
                    f"IAM token exchange answered with a bad expiresAt {raw_expiry!r}",
                    code="UNKNOWN",
                    response=response,
                )
            expires_at = parsed
        return token, expires_at


def _server_message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f" with HTTP {response.status_code}"
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str) and message:
        return f": {message[:200]}"
    return f" with HTTP {response.status_code}"


def _parse_rfc3339(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def auth_from_env(env: Mapping[str, str]) -> AuthProvider | None:
    """A provider from ``YC_API_KEY``, ``YC_IAM_TOKEN`` or ``YC_OAUTH_TOKEN``, first set wins."""
    if api_key := env.get("YC_API_KEY", "").strip():
        return APIKeyAuth(api_key)
    if iam_token := env.get("YC_IAM_TOKEN", "").strip():
        return IAMTokenAuth(iam_token)
    if oauth_token := env.get("YC_OAUTH_TOKEN", "").strip():
        return OAuthTokenAuth(oauth_token)
    return None


def _has_prefix(value: str, prefix: str) -> bool:
    return value[: len(prefix)].lower() == prefix.lower()


def coerce_auth(auth: str | AuthProvider | None, env: Mapping[str, str]) -> AuthProvider:
    """Turn what the user passed as ``auth=`` into a provider.

    Strings are recognised by shape: ``"Api-Key ..."``/``"Bearer ..."`` header
    values, ``t1.`` IAM tokens, ``y0_``/``AQAA`` OAuth tokens; any other string
    is taken as an API key. ``None`` falls back to the environment.
    """
    if auth is None:
        provider = auth_from_env(env)
        if provider is None:
            raise ConfigurationError(f"no credentials: {_NO_CREDENTIALS}")
        return provider
    if isinstance(auth, str):
        value = auth.strip()
        if not value:
            raise ConfigurationError(f"auth is an empty string; {_NO_CREDENTIALS}")
        if value.lower() in ("api-key", "bearer"):
            raise ConfigurationError(f"auth {value!r} has no credential after the scheme")
        if _has_prefix(value, "Api-Key "):
            return APIKeyAuth(value[len("Api-Key ") :])
        if _has_prefix(value, "Bearer "):
            return IAMTokenAuth(value[len("Bearer ") :])
        if value.startswith("t1."):
            return IAMTokenAuth(value)
        if value.startswith(("y0_", "AQAA")):
            return OAuthTokenAuth(value)
        return APIKeyAuth(value)
    if isinstance(auth, AuthProvider):
        return auth
    raise TypeError(f"auth must be a str or an AuthProvider, not {type(auth).__name__}")
