"""Where each service is: ``host:port`` parsing, the endpoints a client starts with, and the
endpoint discovery it asks, once, for the others."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from .errors import ConfigurationError, UnknownEndpointError
from .undefined import Undefined, UndefinedOr

# The official SDK's endpoint-discovery address; its answer for our services is known (the
# ``services`` a client is given), so this one is never asked.
PUBLIC_API_ENDPOINT = "api.cloud.yandex.net:443"
DISCOVERY = "endpoint"  # the pseudo service id of the discovery address in the endpoints


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url_host(self) -> str:  # an IPv6 address in brackets
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def is_loopback(self) -> bool:
        try:
            return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_endpoint(value: str, name: str = "endpoint") -> Endpoint:
    """``host[:port]`` (IPv6 in brackets, port 443 by default); a URL scheme is not accepted."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a 'host:port' str, not {type(value).__name__}")
    host, port = value.strip(), "443"
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or rest[:1] not in ("", ":"):
            raise ConfigurationError(f"{name} {value!r} must look like [v6]:port")
        port = rest[1:] if rest else port
    elif host.count(":") == 1:
        host, port = host.split(":")
    if not host or "/" in value or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"{name} {value!r} must look like host:port")
    return Endpoint(host, int(port))


@dataclass(frozen=True)
class InitialEndpoints:
    """The endpoints known when the client is made, and the discovery address to ask for
    the others (None: every service is known, or discovery is off)."""

    known: dict[str, Endpoint]
    discovery: Endpoint | None


def initial_endpoints(
    services: Mapping[str, str],
    *,
    service_map: object,
    address: str | None,
    endpoint: UndefinedOr[str | None],
    env: Mapping[str, str],
) -> InitialEndpoints:
    """``address=`` puts every service there; else ``endpoint=`` (``YC_API_ENDPOINT``, the
    public one) is a discovery address as in the official SDK; None turns discovery off.
    ``service_map`` entries win in every case. ``services``: id -> public ``host:port``."""
    overrides = _service_map(services, service_map or {})
    if address is not None:
        every = parse_endpoint(address, "address")
        return InitialEndpoints({sid: every for sid in services} | overrides, None)
    if isinstance(endpoint, Undefined):
        endpoint = env.get("YC_API_ENDPOINT", "").strip() or PUBLIC_API_ENDPOINT
    public = {sid: parse_endpoint(value) for sid, value in services.items()}
    if endpoint is None:
        return InitialEndpoints(public | overrides, None)
    discovery = parse_endpoint(endpoint)
    if discovery == parse_endpoint(PUBLIC_API_ENDPOINT) or set(overrides) >= set(public):
        return InitialEndpoints(public | overrides, None)  # its answer is known, or not needed
    return InitialEndpoints(overrides | {DISCOVERY: discovery}, discovery)


def _service_map(services: Mapping[str, str], service_map: object) -> dict[str, Endpoint]:
    if not isinstance(service_map, Mapping):
        raise ConfigurationError(
            f"service_map must be a mapping of service id to 'host:port', "
            f"not {type(service_map).__name__}"
        )
    known = ", ".join(sorted(services))
    overrides = {}
    for sid, value in service_map.items():
        if sid not in services:
            raise ConfigurationError(f"service_map: unknown service {sid!r} (known: {known})")
        overrides[sid] = parse_endpoint(value, f"service_map[{sid!r}]")
    return overrides


Ask = Callable[[], Awaitable[Mapping[str, str]]]  # the discovery call: service id -> host:port
CheckPlaintext = Callable[[Iterable[Endpoint]], None]


class EndpointMap:
    """Each service's endpoint; those not known yet are asked of the discovery address once,
    at the first call that needs one (one discovery at a time)."""

    def __init__(self, services: Mapping[str, str], initial: InitialEndpoints) -> None:
        self._services = tuple(services)
        self.endpoints = dict(initial.known)
        self.discovery = initial.discovery
        self._lock: asyncio.Lock | None = None  # made on the loop that first needs it

    def forget_loop_state(self) -> None:
        self._lock = None  # after fork: the parent's lock belonged to the parent's loop

    async def endpoint_of(
        self, service_id: str, ask: Ask | None, check_plaintext: CheckPlaintext
    ) -> Endpoint:
        """The service's endpoint, asking the discovery address (``ask``) at the first need."""
        if (endpoint := self.endpoints.get(service_id)) is not None:
            return endpoint
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if service_id not in self.endpoints:
                if ask is None:
                    raise UnknownEndpointError(f"no endpoint for service {service_id!r}")
                found = self._read_listing(await ask())
                check_plaintext(found.values())
                self.endpoints.update(found)
            if service_id not in self.endpoints:
                raise UnknownEndpointError(
                    f"the endpoint discovery at {self.discovery} does not list {service_id!r}; "
                    f"pass service_map={{{service_id!r}: 'host:port'}} or address="
                )
            return self.endpoints[service_id]

    def _read_listing(self, listed: Mapping[str, str]) -> dict[str, Endpoint]:
        """Our services' endpoints in a discovery answer, except those already known."""
        return {
            sid: parse_endpoint(listed[sid], f"the discovered address of {sid!r}")
            for sid in self._services
            if sid in listed and sid not in self.endpoints
        }
