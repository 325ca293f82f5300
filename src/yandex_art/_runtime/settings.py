"""A client's settings (``AIStudio``'s keyword arguments), checked once, when it is made.

A bad setting raises ``ConfigurationError`` here, never at the first call.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# typing_extensions' TypedDict: typing's knows Required only from 3.11
from typing_extensions import TypedDict

from . import logs
from .auth import AuthProvider, coerce_auth
from .endpoints import InitialEndpoints, initial_endpoints
from .errors import ConfigurationError
from .quota import QuotaStore
from .retry import RetryPolicy
from .tls import Tls, Verify
from .undefined import UNDEFINED, UndefinedOr
from .validation import check_timeout

TransportName = Literal["grpc", "rest"]


class ClientSettings(TypedDict, total=False):  # AIStudio's keyword arguments (documented there)
    folder_id: str | None
    auth: str | AuthProvider | None
    endpoint: UndefinedOr[str | None]
    address: str | None
    service_map: Mapping[str, str] | None
    verify: Verify | None
    retry_policy: RetryPolicy | None
    transport: TransportName
    enable_server_data_logging: bool | None
    max_reads_per_second: float | None
    allow_insecure: bool
    env: Mapping[str, str] | None
    duration_cache: bool | None
    timeout: float
    default_headers: Mapping[str, str] | None
    yc_profile: str | None
    interceptors: Sequence[Any] | None
    quota_store: str | QuotaStore | None


# Headers every call sets itself: default_headers= may not replace them.
_RESERVED_HEADERS = frozenset(
    {"authorization", "x-client-request-id", "idempotency-key", "x-data-logging-enabled"}
)
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")


@dataclass(frozen=True)
class Settings:
    """What the settings became once checked."""

    env: Mapping[str, str]  # read instead of os.environ: credentials, proxies, logging
    folder_id: str
    transport: TransportName
    endpoints: InitialEndpoints
    tls: Tls
    auth: AuthProvider
    retry: RetryPolicy
    data_logging: bool | None  # None: no x-data-logging-enabled header
    persist_durations: bool  # False: learned durations stay off disk
    default_timeout: float  # s, for each request of a call that passes no timeout=
    user_agent: str
    default_headers: Mapping[str, str]  # lower-cased, without user-agent
    interceptors: tuple[Any, ...]  # gRPC client interceptors, the user's
    max_reads_per_second: float | None
    quota_store: str | QuotaStore | None  # as given; opened by the client


def check_settings(
    settings: ClientSettings, *, services: Mapping[str, str], version: str
) -> Settings:
    """Check every setting, in the order the README lists them; ``services``: service id ->
    its public ``host:port``; ``version``: the SDK's, for the user agent."""
    env = _check_env(settings.get("env"))
    logs.configure_from_env(env)
    folder_id = _check_folder_id(settings["folder_id"], env)
    if (transport := settings["transport"]) not in ("grpc", "rest"):
        raise ConfigurationError(f"transport must be 'grpc' or 'rest', not {transport!r}")
    endpoints = initial_endpoints(
        services,
        service_map=settings["service_map"],
        address=settings.get("address"),
        endpoint=settings.get("endpoint", UNDEFINED),
        env=env,
    )
    allow_insecure = _check_flag("allow_insecure", settings["allow_insecure"])
    tls = Tls(settings["verify"], allow_insecure=allow_insecure)
    tls.check_plaintext(endpoints.known.values())
    auth = _check_auth(settings, env)
    if not isinstance(retry := settings["retry_policy"], RetryPolicy | None):
        raise ConfigurationError(
            f"retry_policy must be a RetryPolicy or None, not {type(retry).__name__}"
        )
    data_logging = settings["enable_server_data_logging"]
    _check_flag("enable_server_data_logging", data_logging, optional=True)
    _check_flag("duration_cache", settings["duration_cache"], optional=True)
    default_timeout = _check_default_timeout(settings.get("timeout", 60.0))
    headers = _check_headers(settings.get("default_headers"))
    suffix = headers.pop("user-agent", "")  # appended to the SDK's own
    user_agent = f"yandex-art-sdk/{version} python/{platform.python_version()}"
    return Settings(
        env=env,
        folder_id=folder_id,
        transport=transport,
        endpoints=endpoints,
        tls=tls,
        auth=auth,
        retry=retry or RetryPolicy(),
        data_logging=data_logging,
        persist_durations=settings["duration_cache"] is not False,
        default_timeout=default_timeout,
        user_agent=f"{user_agent} {suffix}" if suffix else user_agent,
        default_headers=headers,
        interceptors=_check_interceptors(settings.get("interceptors")),
        max_reads_per_second=settings["max_reads_per_second"],
        quota_store=settings.get("quota_store"),
    )


def _check_env(env: object) -> Mapping[str, str]:
    if not isinstance(env, Mapping | None):
        raise ConfigurationError(f"env must be a mapping, not {type(env).__name__}")
    return os.environ if env is None else env


def _check_folder_id(folder_id: object, env: Mapping[str, str]) -> str:
    folder_id = env.get("YC_FOLDER_ID") if folder_id is None else folder_id
    if not isinstance(folder_id, str | None):
        raise ConfigurationError(f"folder_id must be a str, not {type(folder_id).__name__}")
    if not folder_id or not folder_id.strip():
        raise ConfigurationError(
            "no folder id: pass folder_id= or set the YC_FOLDER_ID environment variable"
        )
    if not folder_id.isprintable():
        raise ConfigurationError("folder_id must be printable text (no control or surrogate)")
    if not re.fullmatch(r"[^/\s]+", folder_id):  # it becomes a segment of the model URI
        raise ConfigurationError(f"folder_id {folder_id!r} must not contain '/' or spaces")
    return folder_id


def _check_auth(settings: ClientSettings, env: Mapping[str, str]) -> AuthProvider:
    profile = settings.get("yc_profile")
    if not isinstance(profile, str | None):
        raise ConfigurationError(f"yc_profile must be a str, not {type(profile).__name__}")
    return coerce_auth(settings["auth"], {**env, "YC_PROFILE": profile} if profile else env)


def _check_flag(name: str, value: object, *, optional: bool = False) -> bool:
    if not isinstance(value, bool) and not (optional and value is None):
        kind = "True, False or None" if optional else "True or False"
        raise ConfigurationError(f"{name} must be {kind}, not {value!r}")
    return bool(value)


def _check_default_timeout(value: object) -> float:
    try:
        return check_timeout("timeout", value)
    except ValueError as exc:  # InvalidArgumentError: here, a setting of the client
        raise ConfigurationError(str(exc)) from None


def _check_headers(headers: object) -> dict[str, str]:
    """default_headers=, lower-cased (gRPC metadata keys are): sent with every call."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"default_headers must be a mapping, not {type(headers).__name__}")
    checked = {}
    for name, value in headers.items():
        key = name.lower() if isinstance(name, str) else ""
        if not _HEADER_NAME.fullmatch(key) or key.endswith("-bin"):
            raise ConfigurationError(f"default_headers: {name!r} is not a header name")
        if key in _RESERVED_HEADERS:
            raise ConfigurationError(f"default_headers: {name!r} is set by the SDK itself")
        if not isinstance(value, str) or not (value.isascii() and value.isprintable()):
            raise ConfigurationError(f"default_headers[{name!r}] must be printable ASCII text")
        checked[key] = value.strip()
    return checked


def _check_interceptors(interceptors: object) -> tuple[Any, ...]:
    if isinstance(interceptors, str | bytes) or not isinstance(interceptors, Sequence | None):
        raise ConfigurationError("interceptors must be a sequence of gRPC client interceptors")
    return tuple(interceptors or ())
