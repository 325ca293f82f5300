"""Which recorded interaction answers a request: by method and body.

Bodies are compared in a canonical form: the proto3 JSON the specs give them
(int64 as strings whatever was sent, default values left out), with empty
sub-messages dropped (``aspectRatio: {}`` is the documented default, as is no
``aspectRatio``). Headers are never compared: request ids and idempotency keys
vary legitimately. Among equal candidates the first not yet served wins, so
operation reads are answered in the recorded order (``running``, then the
result); once all were served, the last one is served again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .format import DISCOVERY_METHODS, Cassette, Interaction, message_type

__all__ = ["Matcher", "NoMatch", "canonical", "differences"]

_MAX_SHOWN = 80


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in ({}, None, [])}
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def canonical(type_name: str, message: Any) -> Any:
    """The form two bodies are compared in (the JSON as recorded when the specs cannot read it)."""
    cls = message_type(type_name)
    if cls is not None:
        try:
            message = cls.from_dict(message).to_dict()
        except Exception:
            pass
    return _prune(message)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def differences(recorded: Any, got: Any, path: str = "") -> list[str]:
    """Each place two canonical bodies differ: ``path: recorded X, got Y``."""
    if isinstance(recorded, dict) and isinstance(got, dict):
        out = []
        for key in sorted(recorded.keys() | got.keys()):
            where = f"{path}.{key}" if path else key
            out += differences(recorded.get(key), got.get(key), where)
        return out
    if isinstance(recorded, list) and isinstance(got, list) and len(recorded) == len(got):
        out = []
        for index, (left, right) in enumerate(zip(recorded, got, strict=True)):
            out += differences(left, right, f"{path}[{index}]")
        return out
    if recorded == got:
        return []
    return [f"{path or '(body)'}: recorded {_show(recorded)}, got {_show(got)}"]


class NoMatch(Exception):
    """No recorded interaction answers the request; the message names the closest one."""


@dataclass
class _Entry:
    index: int
    interaction: Interaction
    body: Any
    served: int = 0


class Matcher:
    """The recorded interactions of one or more cassettes, served to whoever asks."""

    def __init__(self, cassettes: list[Cassette]) -> None:
        self._entries: list[_Entry] = []
        for cassette in cassettes:
            for interaction in cassette.interactions:
                request = interaction.request
                body = canonical(request.type, request.message)
                self._entries.append(_Entry(len(self._entries), interaction, body))
        self._lock = threading.Lock()  # gRPC and REST handlers may ask at once
        self.misses: list[str] = []

    def answer(self, method: str, type_name: str, message: Any) -> Interaction:
        """The interaction answering this request, marked served; :class:`NoMatch` otherwise."""
        body = canonical(type_name, message)
        with self._lock:
            same = [e for e in self._entries if e.interaction.method == method]
            equal = [e for e in same if e.body == body]
            if equal:
                entry = next((e for e in equal if not e.served), equal[-1])
                entry.served += 1
                return entry.interaction
            problem = self._explain(method, same, body)
            self.misses.append(problem)
        raise NoMatch(problem)

    def _explain(self, method: str, same: list[_Entry], body: Any) -> str:
        name = method.rsplit("/", 1)[-1]
        if not same:
            recorded = sorted({e.interaction.method.rsplit("/", 1)[-1] for e in self._entries})
            return (
                f"no recorded {method} call in the cassette (it holds: "
                f"{', '.join(recorded) or 'nothing'}); record it again"
            )
        closest = min(same, key=lambda e: (len(differences(e.body, body)), e.served, e.index))
        found = differences(closest.body, body)
        return (
            f"no recorded {name} request matches: the closest (interaction "
            f"#{closest.index}) differs in {'; '.join(found)}"
        )

    def unused(self) -> list[str]:
        """The interactions never served (endpoint discovery aside: whether a client asks it
        depends on how the client is set up, not on the service)."""
        return [
            f"interaction #{e.index} ({e.interaction.method.rsplit('/', 1)[-1]} "
            f"{_show(e.body)}) was never requested"
            for e in self._entries
            if not e.served and e.interaction.method not in DISCOVERY_METHODS
        ]
