"""The :class:`Emulator`: both servers on one event loop, in the caller's loop or a thread."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from grpclib.const import Status
from typing_extensions import Self

from .._runtime.bridge import LoopThread
from .config import (
    DEFAULT_API_KEY,
    DEFAULT_FOLDER_ID,
    EmulatorConfig,
    EmulatorConfigError,
    EmulatorSettings,
)
from .faults import Faults
from .service import EmulatorError, EmulatorService, EmulatorStats
from .state import load_state, remove_stale_temporaries, save_state

if TYPE_CHECKING:
    from aiohttp import web
    from typing_extensions import Unpack

    from .._client import AIStudio, AsyncAIStudio, ClientSettings
    from .._runtime.client_core import TransportName
    from .grpc import GrpcServer

__all__ = ["Emulator"]

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT = 10.0
_MAX_RETRY_PAUSE = 2.0


def _lock(path: Path) -> IO[str]:
    """An exclusive lock on ``<state file>.lock``: one emulator per state file."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a+", encoding="utf-8")  # held while serving
    except OSError as exc:
        raise EmulatorConfigError(
            f"cannot use the state file {path}: {exc.strerror or exc}"
        ) from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise EmulatorConfigError(
            f"the state file {path} is in use by another emulator (it holds {lock_path}); "
            "give each emulator its own --state file"
        ) from None
    return handle


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise EmulatorConfigError(f"cannot resolve host {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise EmulatorConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.setblocking(False)
    return sock


def _host_port(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return (f"[{host}]" if ":" in host else host), int(port)


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
        self._flusher: asyncio.Task[None] | None = None
        self._grpc_addr: tuple[str, int] | None = None
        self._rest_addr: tuple[str, int] | None = None
        self._state = Path(self.config.state_file) if self.config.state_file else None
        self._lock_file: IO[str] | None = None
        self._saved_version = -1
        self._wake = asyncio.Event()
        self._saved = asyncio.Condition()

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
        try:
            import PIL  # noqa: F401  (checked now rather than at the first image)
            from aiohttp import web
        except ImportError as exc:
            raise ImportError(
                f"the emulator needs aiohttp and Pillow ({exc}); "
                "install them with: pip install 'yandex-art-sdk[emulator]'"
            ) from None
        from .grpc import build_server
        from .rest import build_app

        loop = asyncio.get_running_loop()
        if self._state is not None:
            self._open_state(self._state)
        try:
            grpc_sock = _bind(self.config.host, self.config.grpc_port)
            try:
                rest_sock = _bind(self.config.host, self.config.rest_port)
            except BaseException:
                grpc_sock.close()
                raise
        except BaseException:
            self._release_state()
            raise
        self._grpc_addr, self._rest_addr = _host_port(grpc_sock), _host_port(rest_sock)
        try:
            self._service.bind_loop(loop)
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
        except BaseException:
            grpc_sock.close()
            rest_sock.close()
            await self.aclose()
            raise
        if self._state is not None:
            self._wake = asyncio.Event()
            self._saved = asyncio.Condition()
            self._service.commit = self._commit
            self._flusher = loop.create_task(self._flush_loop())

    async def aclose(self) -> None:
        """Stop serving (pending state is written first). Idempotent."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        if self._grpc is not None:
            await self._grpc.close()
            self._grpc = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._grpc_addr = self._rest_addr = None
        self._service.commit = None
        if self._state is not None and self._lock_file is not None:
            try:
                self._write(self._saved_version)
            except Exception as exc:
                log.error("could not write the state file %s on close: %s", self._state, exc)
        self._release_state()

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

    # -- state file -----------------------------------------------------------------

    def _open_state(self, path: Path) -> None:
        """Lock the state file, load it (refusing corruption) and prove it can be written."""
        self._lock_file = _lock(path)
        try:
            remove_stale_temporaries(path)  # a kill -9 during a write leaves one
            self._service.load(load_state(path, now=time.time(), now_monotonic=time.monotonic()))
            self._saved_version = -1
            self._write(-1)
        except OSError as exc:
            self._release_state()
            raise EmulatorConfigError(
                f"cannot write the state file {path}: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self._release_state()
            raise

    def _release_state(self) -> None:
        handle, self._lock_file = self._lock_file, None
        if handle is not None:
            handle.close()  # closing the file drops the lock

    def _write(self, since: int) -> bool:
        """Write the records if they changed after version ``since``; True if it wrote."""
        assert self._state is not None
        pending = self._service.changes(since)
        if pending is None:
            return False
        version, records = pending
        save_state(self._state, records)
        self._saved_version = version
        return True

    async def _flush_loop(self) -> None:
        """Write changes as they come (at least every ``state_flush_seconds``); never gives up.

        A failed write is logged and retried with a growing pause; the
        records stay in memory meanwhile, and generations wait (see
        :meth:`_commit`) rather than be acknowledged without being on disk.
        """
        interval = max(self.config.state_flush_seconds, 0.01)
        pause = interval
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
                pass
            self._wake.clear()
            try:
                wrote = await loop.run_in_executor(None, self._write, self._saved_version)
            except Exception as exc:
                log.warning(
                    "cannot write the state file %s (%s); retrying in %.2g s",
                    self._state,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_RETRY_PAUSE)
                self._wake.set()
                continue
            pause = interval
            if wrote:
                async with self._saved:
                    self._saved.notify_all()

    async def _commit(self, version: int) -> None:
        """Return once the records of ``version`` are on disk."""
        if self._saved_version >= version:
            return
        self._wake.set()
        try:
            async with self._saved:
                await asyncio.wait_for(
                    self._saved.wait_for(lambda: self._saved_version >= version),
                    _COMMIT_TIMEOUT,
                )
        except asyncio.TimeoutError:  # (the builtin one from 3.11 on)
            raise EmulatorError(
                Status.UNAVAILABLE,
                "the emulator cannot write its state file; the operation is kept in memory "
                "and is saved when writing works again",
            ) from None

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
