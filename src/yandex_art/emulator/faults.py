"""Faults injected on demand: failing calls, added latency, bad generations.

All methods are thread-safe, so a test can arm faults from its own thread
while the emulator serves on another.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from grpclib.const import Status

from .._runtime.validation import Bounds, check_within

__all__ = ["METHODS", "CallFault", "Faults", "GenerationFault", "method_name", "status_of"]

METHODS = ("generate", "get", "cancel")
"""Names of the methods faults can target (the same over gRPC and REST)."""

_ALIASES = {
    "generate": "generate",
    "imagegenerationasync": "generate",
    "get": "get",
    "cancel": "cancel",
}

F = TypeVar("F")

WRONG_TYPE_URL = "type.googleapis.com/google.rpc.Status"


def method_name(method: str) -> str:
    """``"Get"``, ``"OperationService/Get"`` or a full gRPC path -> ``"get"``."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    tail = method.replace("/", ".").rstrip(".").rsplit(".", 1)[-1].lower()
    name = _ALIASES.get(tail)
    if name is None:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    return name


def status_of(code: int | str | Status) -> Status:
    """A gRPC status from its number (14), name ("UNAVAILABLE") or enum."""
    if isinstance(code, Status):
        return code
    if isinstance(code, bool):
        raise TypeError("code must be an int, a status name or a grpclib Status")
    if isinstance(code, int):
        try:
            return Status(code)
        except ValueError:
            raise ValueError(f"{code} is not a gRPC status code") from None
    if isinstance(code, str):
        try:
            return Status[code.strip().upper()]
        except KeyError:
            raise ValueError(f"{code!r} is not a gRPC status name") from None
    raise TypeError("code must be an int, a status name or a grpclib Status")


def _count(times: object) -> int:
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise ValueError(f"times must be an int >= 0, got {times!r}")
    return times


@dataclass(frozen=True)
class CallFault:
    """One call answered with an error status instead of being served."""

    status: Status
    message: str


@dataclass(frozen=True)
class GenerationFault:
    """How one generation ends instead of with an image."""

    kind: Literal["error", "empty", "wrong_type"]
    code: int = 0
    message: str = ""
    type_url: str = ""


class _Queue(Generic[F]):
    """Faults in arming order, each with how many more times it applies."""

    def __init__(self) -> None:
        self._items: deque[list[Any]] = deque()

    def add(self, fault: F, times: int) -> None:
        if times:
            self._items.append([fault, times])

    def take(self) -> F | None:
        if not self._items:
            return None
        entry = self._items[0]
        entry[1] -= 1
        if entry[1] <= 0:
            self._items.popleft()
        fault: F = entry[0]
        return fault

    def extend(self, other: _Queue[F]) -> None:
        self._items.extend([fault, times] for fault, times in other._items)

    def clear(self) -> None:
        self._items.clear()

    def entries(self) -> list[tuple[F, int]]:
        return [(fault, times) for fault, times in self._items]


class Faults:
    """Arms faults; each ``times`` counts calls (or generations) still to be hit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Queue[CallFault]] = {name: _Queue() for name in METHODS}
        self._latency: dict[str, float] = dict.fromkeys(METHODS, 0.0)
        self._latency_set: set[str] = set()
        self._generations: _Queue[GenerationFault] = _Queue()

    def fail_calls(
        self,
        method: str,
        times: int = 1,
        *,
        code: int | str | Status = Status.UNAVAILABLE,
        message: str = "the service is temporarily unavailable (injected fault)",
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``code`` (HTTP: its mapped status)."""
        name, status = method_name(method), status_of(code)
        if status is Status.OK:
            raise ValueError("an injected call fault needs an error code, not OK")
        fault = CallFault(status, str(message))
        with self._lock:
            self._calls[name].add(fault, _count(times))

    def unavailable(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer UNAVAILABLE (HTTP 503)."""
        self.fail_calls(method, times)

    def set_latency(self, method: str, seconds: float) -> None:
        """Every call of ``method`` waits ``seconds`` before being served (0 removes it)."""
        name = method_name(method)
        value = check_within("seconds", seconds, Bounds(minimum=0))
        with self._lock:
            self._latency[name] = value
            self._latency_set.add(name)

    def fail_generations(
        self,
        times: int = 1,
        *,
        code: int | str | Status = Status.INTERNAL,
        message: str = "image generation failed (injected fault)",
    ) -> None:
        """The next ``times`` generations end as failed operations with ``code`` and ``message``."""
        status = status_of(code)
        if status is Status.OK:
            raise ValueError("a failed generation needs an error code, not OK")
        fault = GenerationFault("error", status.value, str(message))
        with self._lock:
            self._generations.add(fault, _count(times))

    def empty_results(self, times: int = 1) -> None:
        """The next ``times`` generations end done with neither a response nor an error."""
        with self._lock:
            self._generations.add(GenerationFault("empty"), _count(times))

    def wrong_result_type(self, times: int = 1, *, type_url: str = WRONG_TYPE_URL) -> None:
        """The next ``times`` generations end with a response of another type (``type_url``)."""
        if not isinstance(type_url, str) or "/" not in type_url:
            raise ValueError(f"type_url {type_url!r} must look like type.googleapis.com/<name>")
        with self._lock:
            self._generations.add(GenerationFault("wrong_type", type_url=type_url), _count(times))

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            for queue in self._calls.values():
                queue.clear()
            self._latency = dict.fromkeys(METHODS, 0.0)
            self._latency_set.clear()
            self._generations.clear()

    def snapshot(self) -> dict[str, Any]:
        """What is armed, as plain data."""
        with self._lock:
            return {
                "calls": {
                    name: [
                        {"code": f.status.name, "message": f.message, "times": n}
                        for f, n in queue.entries()
                    ]
                    for name, queue in self._calls.items()
                },
                "latency": dict(self._latency),
                "generations": [
                    {
                        **{k: v for k, v in vars(f).items() if v not in ("", 0) or k == "kind"},
                        "times": n,
                    }
                    for f, n in self._generations.entries()
                ],
            }

    def __repr__(self) -> str:
        return f"Faults({self.snapshot()!r})"

    def apply(self, spec: object) -> None:
        """Arms faults from JSON data (the body of ``POST /_emulator/faults``).

        Keys: ``clear`` (bool, applied first), ``unavailable`` ({method: times}),
        ``fail_calls`` ([{method, times, code, message}]), ``latency``
        ({method: seconds}), ``fail_generations`` ({times, code, message}),
        ``empty_results`` (times), ``wrong_result_type`` (times or {times, type_url}).
        Wrong data raises ValueError naming the key, and nothing is armed.
        """
        if not isinstance(spec, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(spec) - {"clear", *_APPLIERS})
        if unknown:
            raise ValueError(f"unknown keys {unknown}; known: {sorted({'clear', *_APPLIERS})}")
        clear = spec.get("clear", False)
        if not isinstance(clear, bool):
            raise ValueError("clear: must be true or false")
        staged = Faults()
        for key, applier in _APPLIERS.items():
            if key in spec:
                try:
                    applier(staged, spec[key])
                except (TypeError, ValueError, KeyError) as exc:
                    raise ValueError(f"{key}: {exc}") from None
        if clear:
            self.clear()
        self._merge(staged)

    def _merge(self, other: Faults) -> None:
        with other._lock, self._lock:
            for name, queue in other._calls.items():
                self._calls[name].extend(queue)
            for name in other._latency_set:
                self._latency[name] = other._latency[name]
                self._latency_set.add(name)
            self._generations.extend(other._generations)

    # Used by the emulator.

    def take_call_fault(self, method: str) -> CallFault | None:
        with self._lock:
            return self._calls[method].take()

    def latency(self, method: str) -> float:
        with self._lock:
            return self._latency[method]

    def take_generation_fault(self) -> GenerationFault | None:
        with self._lock:
            return self._generations.take()


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value


def _options(item: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: item[name] for name in names if name in item}


def _apply_unavailable(faults: Faults, value: object) -> None:
    for method, times in _object(value).items():
        faults.unavailable(method, times)


def _apply_fail_calls(faults: Faults, value: object) -> None:
    if not isinstance(value, list):
        raise ValueError("must be a JSON array")
    for item in value:
        item = _object(item)
        faults.fail_calls(
            item.get("method", ""), item.get("times", 1), **_options(item, "code", "message")
        )


def _apply_latency(faults: Faults, value: object) -> None:
    for method, seconds in _object(value).items():
        faults.set_latency(method, seconds)


def _apply_fail_generations(faults: Faults, value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        faults.fail_generations(value)
        return
    item = _object(value)
    faults.fail_generations(item.get("times", 1), **_options(item, "code", "message"))


def _apply_empty_results(faults: Faults, value: object) -> None:
    faults.empty_results(value)  # type: ignore[arg-type]  # checked by _count


def _apply_wrong_result_type(faults: Faults, value: object) -> None:
    if isinstance(value, dict):
        faults.wrong_result_type(value.get("times", 1), **_options(value, "type_url"))
    else:
        faults.wrong_result_type(value)  # type: ignore[arg-type]  # checked by _count


_APPLIERS = {
    "unavailable": _apply_unavailable,
    "fail_calls": _apply_fail_calls,
    "latency": _apply_latency,
    "fail_generations": _apply_fail_generations,
    "empty_results": _apply_empty_results,
    "wrong_result_type": _apply_wrong_result_type,
}
