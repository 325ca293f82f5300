"""ClientCore: REST error mapping, retries and headers, with an in-memory HTTP transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from yandex_art import AsyncAIStudio
from yandex_art._runtime.auth import APIKeyAuth
from yandex_art._runtime.client_core import parse_endpoint
from yandex_art._runtime.errors import ConfigurationError, TransportError
from yandex_art._runtime.retry import RetryPolicy


def _core(handler: Any, **kwargs: Any) -> AsyncAIStudio:
    sdk = AsyncAIStudio(
        folder_id="f",
        auth=APIKeyAuth("secret-key"),
        address="127.0.0.1:8080",
        verify=False,
        retry_policy=RetryPolicy(initial_backoff=0.001, max_backoff=0.002),
        **kwargs,
    )
    sdk._core.connections.loop_resources().http = httpx.AsyncClient(
        transport=httpx.MockTransport(handler)
    )
    return sdk  # the core lives as long as its client


async def _get(sdk: AsyncAIStudio, idempotent: bool = True) -> Any:
    return await sdk._core.rest_call(
        service_id="operation",
        http_method="GET",
        path="/operations/x",
        query=None,
        body=None,
        idempotent=idempotent,
        timeout=5,
    )


async def test_headers_and_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x"})

    core = _core(handler, enable_server_data_logging=False)
    assert await _get(core) == {"id": "x"}
    request = seen[0]
    assert str(request.url) == "http://127.0.0.1:8080/operations/x"
    assert request.headers["authorization"] == "Api-Key secret-key"
    assert request.headers["x-data-logging-enabled"] == "false"
    assert len(request.headers["x-client-request-id"]) == 36


async def test_429_is_retried_with_the_same_request_id_then_succeeds() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-client-request-id"])
        if len(seen) < 3:
            return httpx.Response(
                429, json={"code": 8, "message": "quota"}, headers={"retry-after": "0"}
            )
        return httpx.Response(200, json={"id": "x"})

    assert await _get(_core(handler)) == {"id": "x"}
    assert len(seen) == 3 and len(set(seen)) == 1


async def test_http_error_carries_code_message_and_ids() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"code": 3, "message": "messages[0].text: too long"},
            headers={"x-request-id": "srv-1"},
        )

    with pytest.raises(TransportError) as info:
        await _get(_core(handler))
    err = info.value
    assert (
        err.code == "INVALID_ARGUMENT"
        and err.http_status == 400
        and err.detail == "messages[0].text: too long"
    )
    assert err.server_request_id == "srv-1" and err.method == "GET /operations/x"
    assert "secret-key" not in str(err) + repr(err)


async def test_non_idempotent_call_is_retried_on_503_with_the_same_keys() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["idempotency-key"], request.headers["x-client-request-id"]))
        return httpx.Response(503, text="down")

    with pytest.raises(TransportError, match=r"UNAVAILABLE \(HTTP 503\)"):
        await _get(_core(handler), idempotent=False)
    assert len(seen) == 5 and len(set(seen)) == 1


async def test_non_idempotent_call_is_not_retried_on_500() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={"code": 13, "message": "boom"})

    with pytest.raises(TransportError, match="INTERNAL") as caught:
        await _get(_core(handler), idempotent=False)
    assert calls == 1 and caught.value.http_status == 500


async def test_non_json_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>")

    with pytest.raises(TransportError, match="not JSON"):
        await _get(_core(handler))


def test_endpoint_parsing() -> None:
    assert str(parse_endpoint("[::1]:9000")) == "::1:9000"
    assert parse_endpoint("[::1]:9000").is_loopback
    assert parse_endpoint("example.com").port == 443
    for bad in ("", "http://x:1", "x:0", "x:port", "[::1"):
        with pytest.raises(ConfigurationError):
            parse_endpoint(bad)
    assert json.dumps(str(parse_endpoint("localhost:1"))) == '"localhost:1"'


@pytest.mark.parametrize(
    ("env", "host", "expected"),
    [
        ({}, "llm.api.cloud.yandex.net", None),
        ({"HTTPS_PROXY": "http://p:3128"}, "llm.api.cloud.yandex.net", "http://p:3128"),
        (
            {"grpc_proxy": "http://g:1", "https_proxy": "http://h:2"},
            "llm.api.cloud.yandex.net",
            "http://g:1",
        ),
        (
            {"https_proxy": "http://h:2", "no_proxy": ".yandex.net"},
            "llm.api.cloud.yandex.net",
            None,
        ),
        ({"https_proxy": "http://h:2", "NO_PROXY": "10.0.0.0/8, localhost"}, "10.1.2.3", None),
        ({"https_proxy": "http://h:2", "no_proxy": "example.com"}, "a.yandex.net", "http://h:2"),
        ({"http_proxy": "http://x:1", "no_grpc_proxy": "*"}, "a.b", None),
    ],
)
def test_proxy_environment_for_grpc(env: dict[str, str], host: str, expected: object) -> None:
    from yandex_art._runtime.channels import GRPC_NO_PROXY, GRPC_PROXIES, env_proxy

    assert env_proxy(host, env, GRPC_PROXIES, GRPC_NO_PROXY) == expected


def test_the_tls_context_is_made_once_for_every_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading CAs costs ~30 ms: the check at construction and each loop's client share one."""
    import asyncio
    import ssl

    import certifi

    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counting(**kwargs: Any) -> ssl.SSLContext:
        made.append(real(**kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    sdk = AsyncAIStudio(folder_id="f", auth="k", env={}, transport="rest", verify=certifi.where())

    async def client() -> Any:
        return sdk._core.connections.http(sdk._core.endpoints)

    first, second = asyncio.run(client()), asyncio.run(client())
    assert first is not second  # a client per event loop...
    assert len(made) == 1  # ...on one context, the one that checked the CA bundle
    asyncio.run(sdk.close())


def test_a_loop_that_ends_at_once_still_closes_its_http_client() -> None:
    """asyncio.run() ending right after the first use closes that loop's HTTP client, on
    that loop (the loop-shutdown hook of LoopResources)."""
    import asyncio

    closed: list[str] = []

    class Http:
        async def aclose(self) -> None:
            closed.append("closed")

    sdk = AsyncAIStudio(folder_id="f", auth="k", address="127.0.0.1:9", env={})

    async def use_once() -> None:
        sdk._core.connections.loop_resources().http = Http()

    asyncio.run(use_once())
    assert closed == ["closed"]
