"""HTTPS_PROXY is honoured for endpoints on the default port 443, on both transports.

The proxy is a loopback listener that records the CONNECT line and refuses it; the
endpoint's host is under ``.invalid`` (RFC 2606: never resolves), so a client that
bypassed the proxy could not reach any real host either.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from yandex_art import AIStudio, RetryPolicy, TransportError


class _RecordingProxy:
    """Records the request line of every connection, answers 403 and closes."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.seen = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with client:
                head = b""
                while b"\r\n\r\n" not in head and (chunk := client.recv(4096)):
                    head += chunk
                self.requests.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                self.seen.set()
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[_RecordingProxy]:
    running = _RecordingProxy()
    yield running
    running.close()


@pytest.mark.parametrize("transport", ["rest", "grpc"])
@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy"])
def test_a_port_443_endpoint_is_reached_through_the_proxy(
    proxy: _RecordingProxy, transport: str, variable: str
) -> None:
    sdk = AIStudio(
        folder_id="b1gtest",
        auth="test-key",
        service_map={"ai-foundation-models": "art.invalid:443"},
        transport=transport,  # type: ignore[arg-type]
        retry_policy=RetryPolicy(max_attempts=1),
        env={variable: proxy.url},
    )
    with sdk, pytest.raises(TransportError):
        sdk.models.image_generation("yandex-art").run_deferred("a cat", timeout=5)
    assert proxy.requests == ["CONNECT art.invalid:443 HTTP/1.1"]
