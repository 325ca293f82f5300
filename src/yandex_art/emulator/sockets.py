"""The listening sockets of the emulator's servers (and of a cassette's replay)."""

from __future__ import annotations

import socket

from .config import EmulatorConfigError

__all__ = ["bind", "bind_pair", "host_port"]


def bind(host: str, port: int) -> socket.socket:
    """A non-blocking socket bound to ``host:port`` (0: any free port), ready to listen.

    Refusals (an unknown host, a port in use) are :class:`EmulatorConfigError`
    with a message for the user.
    """
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


def bind_pair(host: str, ports: tuple[int, int]) -> tuple[socket.socket, socket.socket]:
    """Two sockets on ``host`` (the gRPC and the REST one); neither stays open on a refusal."""
    first = bind(host, ports[0])
    try:
        return first, bind(host, ports[1])
    except BaseException:
        first.close()
        raise


def host_port(sock: socket.socket) -> tuple[str, int]:
    """The bound address of ``sock``, an IPv6 host in brackets (ready for ``host:port``)."""
    host, port = sock.getsockname()[:2]
    return (f"[{host}]" if ":" in host else host), int(port)
