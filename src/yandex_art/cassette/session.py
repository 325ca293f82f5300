"""A cassette server with what a test needs around it: a ready client, the addresses and
credentials for any other client, and the list of what went wrong (for the pytest plugin)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .format import Cassette, load
from .recorder import Recorder
from .replay import Replayer
from .serving import CassetteServer

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._client import AIStudio, AsyncAIStudio, ClientSettings
    from .._runtime.client_core import TransportName

__all__ = ["REPLAY_API_KEY", "CassetteSession"]

REPLAY_API_KEY = "cassette-replay"
"""The credential clients send to a replay: any is accepted, none is recorded."""
_DEFAULT_FOLDER = "b1gcassette"
_FOLDER_OF_URI = re.compile(r"^[a-z]+://([^/\s]+)/")


def _recorded_folder(cassette: Cassette) -> str | None:
    """The folder of the first model URI the cassette holds (requests must name it again)."""
    for interaction in cassette.interactions:
        message = interaction.request.message
        uri = message.get("modelUri") if isinstance(message, dict) else None
        if isinstance(uri, str) and (match := _FOLDER_OF_URI.match(uri)):
            return match.group(1)
    return None


class CassetteSession:
    """Replays ``path`` (``record=False``) or records to it through a proxy (``record=True``).

    ``sdk()`` / ``async_sdk()`` make clients pointed at the server (closed by
    :meth:`close`); ``grpc_address``, ``rest_url``, ``folder_id`` and ``auth``
    are for any other client (the official SDK: ``endpoint=grpc_address,
    verify=False``). In record mode the clients' credentials and folder come
    from the environment as usual, and ``auth`` is None.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        record: bool = False,
        upstream: str | None = None,
        upstream_rest: str | None = None,
        shrink_images: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.record = record
        self._env = os.environ if env is None else env
        self._clients: list[Any] = []
        backend: Recorder | Replayer
        if record:
            backend = Recorder(
                self.path,
                upstream=upstream,
                upstream_rest=upstream_rest,
                shrink_images=shrink_images,
            )
            self.folder_id = self._env.get("YC_FOLDER_ID", "").strip() or _DEFAULT_FOLDER
            self.auth: str | None = None
        else:
            cassette = load(self.path)
            backend = Replayer([cassette])
            self.folder_id = (
                _recorded_folder(cassette) or self._env.get("YC_FOLDER_ID") or _DEFAULT_FOLDER
            )
            self.auth = REPLAY_API_KEY
        self.server = CassetteServer(backend).start()

    @property
    def grpc_address(self) -> str:
        return self.server.grpc_address

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    def _kwargs(self, transport: TransportName, overrides: ClientSettings) -> dict[str, Any]:
        transport = overrides.get("transport", transport)
        address = self.grpc_address if transport == "grpc" else self.rest_url[len("http://") :]
        host = address.rsplit(":", 1)[0]
        kwargs: dict[str, Any] = {
            "folder_id": self.folder_id,
            "address": address,
            "transport": transport,
            "verify": False,
            "duration_cache": False,  # replayed answers come at once: learn nothing from them
            # a proxy in the environment cannot reach this loopback server
            "env": {**self._env, "no_grpc_proxy": host, "no_proxy": host},
        }
        if self.auth is not None:
            kwargs["auth"] = self.auth
        return kwargs | dict(overrides)

    def sdk(
        self, transport: TransportName = "grpc", /, **kwargs: Unpack[ClientSettings]
    ) -> AIStudio:
        """An :class:`~yandex_art.AIStudio` pointed at the server, closed with the session."""
        from .._client import AIStudio

        client = AIStudio(**self._kwargs(transport, kwargs))
        self._clients.append(client)
        return client

    def async_sdk(
        self, transport: TransportName = "grpc", /, **kwargs: Unpack[ClientSettings]
    ) -> AsyncAIStudio:
        """An :class:`~yandex_art.AsyncAIStudio` pointed at the server (close it yourself)."""
        from .._client import AsyncAIStudio

        return AsyncAIStudio(**self._kwargs(transport, kwargs))

    def problems(self) -> list[str]:
        """Requests no recording matched and recorded interactions never requested (replay)."""
        backend = self.server.backend
        if not isinstance(backend, Replayer):
            return []
        return [*backend.misses(), *backend.unused()]

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        self.server.close()

    def __enter__(self) -> CassetteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
