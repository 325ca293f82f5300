"""The :class:`Emulator`: both servers on one event loop, in the caller's loop or a thread."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from .._runtime.bridge import LoopThread
from .config import (
    DEFAULT_API_KEY,
    DEFAULT_FOLDER_ID,
    EmulatorConfig,
    EmulatorSettings,
)
from .faults import Faults
from .service import EmulatorService
from .sockets import bind_pair, host_port
from .state_keeper import StateKeeper
from .stats import EmulatorStats

if TYPE_CHECKING:
    from aiohttp import web
    from typing_extensions import Unpack

    from .._client import AIStudio, AsyncAIStudio, ClientSettings
    from .._runtime.client_core import TransportName
    from .grpc import GrpcServer

__all__ = ["Emulator"]


def _require_the_extra() -> None:
    """Fail at start, with the way out, when the ``emulator`` extra is not installed."""
    try:
        import PIL  # noqa: F401  (checked now rather than at the first image)
        from aiohttp import web  # noqa: F401  (the REST server)
    except ImportError as exc:
        raise ImportError(
            f"the emulator needs aiohttp and Pillow ({exc}); "
            "install them with: pip install 'yandex-art-sdk[emulator]'"
        ) from None


class Emulator:
    """A local YandexART service: gRPC and REST, with fault injection and stats.

    From sync code::

        with Emulator.start(EmulatorConfig(generation_seconds=0)) as emu:
            sdk = emu.sdk()            # an AIStudio pointed at it
            emu.faults.unavailable("get", times=2)
            print(emu.stats().reads)

    Inside a running event loop::

        async with Emulator(generation_seconds=0.1) as emu:
            ...

    Keyword arguments override fields of ``config``.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, **overrides: Unpack[EmulatorSettings]
    ) -> None:
        base = config if config is not None else EmulatorConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.faults = Faults()
        self._service = EmulatorService(self.config, self.faults)
        self._thread: LoopThread | None = None
        self._grpc: GrpcServer | None = None
        self._runner: web.AppRunner | None = None
        self._grpc_addr: tuple[str, int] | None = None
        self._rest_addr: tuple[str, int] | None = None
        self._state: StateKeeper | None = None
        if self.config.state_file:
            path = Path(self.config.state_file)
            self._state = StateKeeper(path, self._service, self.config.state_flush_seconds)

    # -- starting and stopping ------------------------------------------------------

    @classmethod
    def start(
        cls, config: EmulatorConfig | None = None, **overrides: Unpack[EmulatorSettings]
    ) -> Emulator:
        """Start an emulator on a background thread's event loop; stop it with :meth:`close`."""
        emulator = cls(config, **overrides)
        emulator._thread = LoopThread("yandex-art-emulator")
        try:
            emulator._thread.run(emulator.astart())
        except BaseException:
            emulator._thread.close()
            emulator._thread = None
            raise
        return emulator

    async def astart(self) -> None:
        """Start serving on the running event loop."""
        if self._grpc is not None:
            raise RuntimeError("the emulator is already running")
        _require_the_extra()
        if self._state is not None:
            self._state.open()
        try:
            sockets = bind_pair(self.config.host, (self.config.grpc_port, self.config.rest_port))
        except BaseException:
            if self._state is not None:
                self._state.release()
            raise
        self._grpc_addr, self._rest_addr = host_port(sockets[0]), host_port(sockets[1])
        try:
            await self._serve(*sockets)
        except BaseException:
            for sock in sockets:
                sock.close()
            await self.aclose()
            raise
        if self._state is not None:
            self._state.start_flushing(asyncio.get_running_loop())

    async def _serve(self, grpc_sock: socket.socket, rest_sock: socket.socket) -> None:
        """Start the gRPC and the REST server on their sockets, on the running loop."""
        from aiohttp import web

        from .grpc import build_server
        from .rest import build_app

        self._service.bind_loop(asyncio.get_running_loop())
        server = build_server(self._service, self.grpc_address)
        await server.start(grpc_sock)
        self._grpc = server
        runner = web.AppRunner(
            build_app(self._service),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        self._runner = runner
        await web.SockSite(runner, rest_sock).start()

    async def aclose(self) -> None:
        """Stop serving (pending state is written first). Idempotent."""
        if self._state is not None:
            await self._state.stop_flushing()
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._grpc_addr = self._rest_addr = None
        self._service.commit = None
        if self._state is not None:
            self._state.close()

    def close(self) -> None:
        """Stop an emulator started with :meth:`start` (and its thread). Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.run(self.aclose())
        finally:
            thread.close()

    def __enter__(self) -> Self:
        if self._thread is None:
            if self._grpc is not None:
                raise RuntimeError("this emulator runs in an event loop; use 'async with'")
            self._thread = LoopThread("yandex-art-emulator")
            self._thread.run(self.astart())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- addresses and credentials ------------------------------------------------------

    def _require(self, address: tuple[str, int] | None) -> tuple[str, int]:
        if address is None:
            raise RuntimeError("the emulator is not running")
        return address

    @property
    def grpc_port(self) -> int:
        return self._require(self._grpc_addr)[1]

    @property
    def rest_port(self) -> int:
        return self._require(self._rest_addr)[1]

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC server: ``address=`` of this SDK, or ``endpoint=`` (the
        discovery address, which the emulator answers with itself) of both SDKs."""
        host, port = self._require(self._grpc_addr)
        return f"{host}:{port}"

    @property
    def rest_address(self) -> str:
        """``host:port`` of the REST server."""
        host, port = self._require(self._rest_addr)
        return f"{host}:{port}"

    @property
    def rest_url(self) -> str:
        """Base URL of the REST server, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{self.rest_address}"

    @property
    def folder_id(self) -> str:
        """A folder the emulator accepts (the configured one, or a fixed dummy)."""
        return self.config.folder_id or DEFAULT_FOLDER_ID

    @property
    def api_key(self) -> str | None:
        """An API key the emulator accepts (None when only IAM tokens are configured)."""
        keys = self.config.api_keys
        if keys is None:
            return None if self.config.iam_tokens is not None else DEFAULT_API_KEY
        return min(keys) if keys else None

    @property
    def auth(self) -> str:
        """A credential the emulator accepts, in a form ``AIStudio(auth=...)`` takes."""
        if (key := self.api_key) is not None:
            return key
        tokens = sorted(self.config.iam_tokens or ())
        if not tokens:
            raise RuntimeError("the emulator is configured to accept no credential at all")
        return f"Bearer {tokens[0]}"

    def model_uri(self, model: str = "yandex-art", version: str = "latest") -> str:
        return f"art://{self.folder_id}/{model}/{version}"

    def _sdk_kwargs(self, transport: TransportName, overrides: ClientSettings) -> dict[str, Any]:
        transport = overrides.get("transport", transport)
        endpoint = self.rest_address if transport == "rest" else self.grpc_address
        kwargs: dict[str, Any] = {
            "folder_id": self.folder_id,
            "auth": self.auth,
            "address": endpoint,
            "verify": False,
            "transport": transport,
        }
        if self.config.read_quota is None:
            kwargs["max_reads_per_second"] = None
        # The emulator is on this machine: a proxy in the environment cannot reach it.
        host = endpoint.rsplit(":", 1)[0].strip("[]")
        kwargs["env"] = {
            **os.environ,
            "no_grpc_proxy": host,
            "no_proxy": f"{os.environ.get('no_proxy', '')},{host}".strip(","),
        }
        if "endpoint" in overrides:  # discovery through the emulator, as the caller asked
            del kwargs["address"]
        kwargs.update(overrides)
        return kwargs

    def sdk(
        self, transport: TransportName = "grpc", /, **kwargs: Unpack[ClientSettings]
    ) -> AIStudio:
        """An :class:`~yandex_art.AIStudio` pointed at this emulator (close it when done)."""
        from .._client import AIStudio

        return AIStudio(**self._sdk_kwargs(transport, kwargs))

    def async_sdk(
        self, transport: TransportName = "grpc", /, **kwargs: Unpack[ClientSettings]
    ) -> AsyncAIStudio:
        """An :class:`~yandex_art.AsyncAIStudio` pointed at this emulator."""
        from .._client import AsyncAIStudio

        return AsyncAIStudio(**self._sdk_kwargs(transport, kwargs))

    # -- controls -------------------------------------------------------------------------

    def stats(self) -> EmulatorStats:
        """Counters and per-operation records (see :class:`EmulatorStats`)."""
        return self._service.stats()

    def reset(self) -> None:
        """Forget operations and counters and disarm all faults."""
        self._service.reset()

    def __repr__(self) -> str:
        if self._grpc_addr is None:
            return "Emulator(not running)"
        return f"Emulator(grpc={self.grpc_address!r}, rest={self.rest_url!r})"
