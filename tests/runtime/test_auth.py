import asyncio
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from yandex_art._runtime.auth import (
    IAM_TOKEN_ENDPOINT,
    APIKeyAuth,
    AuthProvider,
    IAMTokenAuth,
    OAuthTokenAuth,
    coerce_auth,
)
from yandex_art._runtime.errors import ConfigurationError, TransportError

from .clock import T0, FakeClock

OAUTH = "y0_SECRET-oauth-token"


def iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class IAMServer:
    """A MockTransport handler that issues numbered IAM tokens."""

    def __init__(self, lifetime: float | None = 12 * 3600, clock: FakeClock | None = None) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return httpx.Response(
                self.status,
                json={"code": 16, "message": f"token {OAUTH} is invalid"},
                headers={"x-request-id": "srv-1", "retry-after": "3"},
            )
        body = {"iamToken": f"t1.iam-{len(self.requests)}"}
        if self.lifetime is not None and self.clock is not None:
            body["expiresAt"] = iso(self.clock() + self.lifetime)
        return httpx.Response(200, json=body)


Route = Callable[[Callable[[httpx.Request], Any]], None]


@pytest.fixture
def route(monkeypatch: pytest.MonkeyPatch) -> Iterator[Route]:
    """Sends the IAM exchanges of this test to a MockTransport ``handler``, not to the network."""
    real = httpx.AsyncClient

    def use(handler: Callable[[httpx.Request], Any]) -> None:
        client = functools.partial(real, transport=httpx.MockTransport(handler))
        monkeypatch.setattr(httpx, "AsyncClient", client)

    yield use


def make(route: Route, server: IAMServer, clock: FakeClock) -> OAuthTokenAuth:
    route(server)
    return OAuthTokenAuth(OAUTH, clock=clock)


async def test_static_providers() -> None:
    assert await APIKeyAuth("AQVNkey").authorization() == "Api-Key AQVNkey"
    assert await IAMTokenAuth("t1.abc").authorization() == "Bearer t1.abc"
    assert APIKeyAuth(" key\n").describe() == "API key"
    assert await APIKeyAuth(" key\n").authorization() == "Api-Key key"
    assert IAMTokenAuth("t1.x").describe() == "IAM token"


@pytest.mark.parametrize("secret", ["", "   ", "a b", "a\x00b"])
def test_bad_secrets_rejected_without_echo(secret: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        APIKeyAuth(secret)
    if secret.strip():
        assert secret not in str(info.value)


def test_secret_type() -> None:
    with pytest.raises(TypeError):
        APIKeyAuth(None)  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    providers = [
        APIKeyAuth("AQVN-secret-key"),
        IAMTokenAuth("t1.secret-iam"),
        OAuthTokenAuth(OAUTH),
    ]
    for provider, secret in zip(
        providers, ["AQVN-secret-key", "t1.secret-iam", OAUTH], strict=True
    ):
        assert type(provider).__name__ in repr(provider)
        assert secret not in repr(provider)
        assert secret not in str(provider)
        assert secret not in provider.describe()
        assert isinstance(provider, AuthProvider)


async def test_oauth_exchange_and_cache(route: Route) -> None:
    clock = FakeClock()
    server = IAMServer(clock=clock)
    auth = make(route, server, clock)
    assert await auth.authorization() == "Bearer t1.iam-1"
    assert await auth.authorization() == "Bearer t1.iam-1"
    assert len(server.requests) == 1
    request = server.requests[0]
    assert request.method == "POST"
    assert str(request.url) == IAM_TOKEN_ENDPOINT
    assert json.loads(request.content) == {"yandexPassportOauthToken": OAUTH}
    # 12 h lifetime: refresh margin is min(3600, 4320) = 1 h before expiry.
    clock.now = T0 + 11 * 3600 - 1
    assert await auth.authorization() == "Bearer t1.iam-1"
    clock.now = T0 + 11 * 3600 + 1
    assert await auth.authorization() == "Bearer t1.iam-2"
    assert len(server.requests) == 2


async def test_short_lifetime_uses_ten_percent_margin(route: Route) -> None:
    clock = FakeClock()
    server = IAMServer(lifetime=1000, clock=clock)
    auth = make(route, server, clock)
    await auth.authorization()
    clock.now = T0 + 899
    assert await auth.authorization() == "Bearer t1.iam-1"
    clock.now = T0 + 901
    assert await auth.authorization() == "Bearer t1.iam-2"


async def test_missing_expires_at_assumes_twelve_hours(route: Route) -> None:
    clock = FakeClock()
    server = IAMServer(lifetime=None)
    auth = make(route, server, clock)
    await auth.authorization()
    clock.now = T0 + 11 * 3600 - 1  # refreshed an hour before the assumed expiry
    assert await auth.authorization() == "Bearer t1.iam-1"
    clock.now = T0 + 11 * 3600 + 1
    assert await auth.authorization() == "Bearer t1.iam-2"


async def test_one_exchange_at_a_time(route: Route) -> None:
    clock = FakeClock()
    server = IAMServer(clock=clock)
    server.delay = 0.05
    auth = make(route, server, clock)
    results = await asyncio.gather(*(auth.authorization() for _ in range(10)))
    assert set(results) == {"Bearer t1.iam-1"}
    assert len(server.requests) == 1


async def test_failed_exchange_raises_transport_error_without_token(route: Route) -> None:
    clock = FakeClock()
    server = IAMServer(clock=clock)
    server.status = 401
    auth = make(route, server, clock)
    with pytest.raises(TransportError) as info:
        await auth.authorization()
    error = info.value
    assert error.code == "UNAUTHENTICATED" and error.http_status == 401
    assert error.endpoint == IAM_TOKEN_ENDPOINT
    assert error.server_request_id == "srv-1"
    assert error.retry_after == 3.0
    for text in (str(error), repr(error), error.detail):
        assert OAUTH not in text
    assert "is invalid" in str(error)


async def test_malformed_answers(route: Route) -> None:
    clock = FakeClock()
    for body in [
        b"not json",
        b"{}",
        b'{"iamToken": ""}',
        b'{"iamToken": "t1.x", "expiresAt": "soon"}',
    ]:

        def handler(request: httpx.Request, body: bytes = body) -> httpx.Response:
            return httpx.Response(200, content=body)

        route(handler)
        auth = OAuthTokenAuth(OAUTH, clock=clock)
        with pytest.raises(TransportError) as info:
            await auth.authorization()
        assert info.value.code == "UNKNOWN"


async def test_network_error_becomes_unavailable(route: Route) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    route(handler)
    auth = OAuthTokenAuth(OAUTH)
    with pytest.raises(TransportError) as info:
        await auth.authorization()
    assert info.value.code == "UNAVAILABLE"
    assert info.value.__cause__ is None
    assert OAUTH not in str(info.value)


async def test_timeout_becomes_deadline_exceeded(route: Route) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    route(handler)
    auth = OAuthTokenAuth(OAUTH)
    with pytest.raises(TransportError) as info:
        await auth.authorization()
    assert info.value.code == "DEADLINE_EXCEEDED"


async def test_each_exchange_closes_its_client(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def client(**kwargs: Any) -> httpx.AsyncClient:
        opened.append(real(transport=httpx.MockTransport(IAMServer()), **kwargs))
        return opened[-1]

    monkeypatch.setattr(httpx, "AsyncClient", client)
    assert await OAuthTokenAuth(OAUTH).authorization() == "Bearer t1.iam-1"
    assert len(opened) == 1 and opened[0].is_closed  # the provider keeps nothing open


def test_env_order() -> None:
    env = {"YC_API_KEY": "k", "YC_IAM_TOKEN": "t1.i", "YC_OAUTH_TOKEN": "y0_o"}
    assert isinstance(coerce_auth(None, env), APIKeyAuth)
    del env["YC_API_KEY"]
    assert isinstance(coerce_auth(None, env), IAMTokenAuth)
    del env["YC_IAM_TOKEN"]
    assert isinstance(coerce_auth(None, env), OAuthTokenAuth)
    assert coerce_auth(None, {"YC_API_KEY": "  ", "YC_IAM_TOKEN": "t1.x"}).describe() == "IAM token"


@pytest.mark.parametrize(
    ("value", "kind", "header"),
    [
        ("Api-Key abc", APIKeyAuth, "Api-Key abc"),
        ("api-key abc", APIKeyAuth, "Api-Key abc"),
        ("Bearer t1.abc", IAMTokenAuth, "Bearer t1.abc"),
        ("Bearer custom", IAMTokenAuth, "Bearer custom"),
        ("t1.9euelZ", IAMTokenAuth, "Bearer t1.9euelZ"),
        ("AQVNxyz", APIKeyAuth, "Api-Key AQVNxyz"),
        ("  plain-key  ", APIKeyAuth, "Api-Key plain-key"),
    ],
)
async def test_coerce_strings(value: str, kind: type, header: str) -> None:
    provider = coerce_auth(value, {})
    assert type(provider) is kind
    assert await provider.authorization() == header


@pytest.mark.parametrize("value", ["y0_AgAAAA", "AQAAAAAA"])
def test_coerce_oauth(value: str) -> None:
    assert type(coerce_auth(value, {})) is OAuthTokenAuth


def test_coerce_provider_and_env() -> None:
    provider = IAMTokenAuth("t1.x")
    assert coerce_auth(provider, {"YC_API_KEY": "k"}) is provider
    assert isinstance(coerce_auth(None, {"YC_API_KEY": "k"}), APIKeyAuth)


@pytest.mark.parametrize("value", [None, "", "   ", "Bearer ", "Api-Key"])
def test_coerce_nothing(value: str | None) -> None:
    with pytest.raises(ConfigurationError) as info:
        coerce_auth(value, {})
    if value is None or not value.strip():
        message = str(info.value)
        assert "auth=" in message
        for name in ("YC_API_KEY", "YC_IAM_TOKEN", "YC_OAUTH_TOKEN"):
            assert name in message


def test_coerce_wrong_type() -> None:
    with pytest.raises(TypeError):
        coerce_auth(123, {})  # type: ignore[arg-type]


class _OwnProvider(AuthProvider):
    """A user's provider, subclassing the protocol as the official SDK's BaseAuth is."""

    def __init__(self) -> None:
        self.forgotten = 0

    async def authorization(self) -> str:
        return "Bearer own"

    def describe(self) -> str:
        return "own provider"

    def forget_loop_state(self) -> None:
        self.forgotten += 1


class _Structural:  # written to the protocol without subclassing it, before it had fork hooks
    async def authorization(self) -> str:
        return "Bearer structural"

    def describe(self) -> str:
        return "structural provider"


def test_a_provider_that_does_not_subclass_the_protocol_is_still_accepted() -> None:
    provider = coerce_auth(_Structural(), {})  # type: ignore[arg-type]
    assert isinstance(provider, AuthProvider)
    assert asyncio.run(provider.authorization()) == "Bearer structural"
    assert provider.describe() == "structural provider"
    provider.forget_loop_state()  # declared, and harmless


def test_a_forked_child_makes_the_provider_forget_its_loop_state() -> None:
    from yandex_art import AsyncAIStudio

    own = _OwnProvider()
    sdk = AsyncAIStudio(folder_id="f", auth=own, address="127.0.0.1:9", env={})
    sdk._core.after_fork_in_child()  # what os.register_at_fork runs in the child
    assert own.forgotten == 1
    assert isinstance(IAMTokenAuth("t1.x"), AuthProvider)  # built-ins declare it too
    IAMTokenAuth("t1.x").forget_loop_state()
