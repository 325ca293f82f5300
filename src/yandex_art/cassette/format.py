"""The cassette file: what one recording holds, how it is read and written.

A cassette is a JSON document (schema: ``cassette.schema.json`` beside this
module) with a format name, a version and the interactions in the order they
happened. Each interaction names its gRPC method and holds the request and the
answer as proto3 JSON, plus the status and the headers that matter. Keys are
sorted and indented, so two recordings diff well in review.

The official SDK's cassettes (``tests/**/cassettes/*.gprc.json``: interactions
of a request and a response named by protobuf module and class) are read as
they are; their method is the one whose request type they name.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._gen.proto.message_pool import default_message_pool
from .._gen.proto.yandex.cloud.endpoint import (
    ApiEndpoint,
    GetApiEndpointRequest,
    ListApiEndpointsRequest,
    ListApiEndpointsResponse,
)
from .._gen.transports import image_generation_async_service, operation_service

__all__ = [
    "FORMAT",
    "LIST_ENDPOINTS",
    "METHODS",
    "VERSION",
    "Cassette",
    "CassetteError",
    "Interaction",
    "Recorded",
    "load",
    "message_type",
    "save",
    "type_name",
]

FORMAT = "yandex-art-cassette"
VERSION = 1
_TYPE_URL = "type.googleapis.com/"

LIST_ENDPOINTS = "/yandex.cloud.endpoint.ApiEndpointService/List"
GET_ENDPOINT = "/yandex.cloud.endpoint.ApiEndpointService/Get"

METHODS: dict[str, tuple[type[Any], type[Any]]] = {
    path: (request, response)
    for table in (image_generation_async_service.GRPC_METHODS, operation_service.GRPC_METHODS)
    for path, (_, request, response) in table.items()
} | {
    LIST_ENDPOINTS: (ListApiEndpointsRequest, ListApiEndpointsResponse),
    GET_ENDPOINT: (GetApiEndpointRequest, ApiEndpoint),
}
"""gRPC path -> (request type, response type) of every method a cassette can hold, from the
generated transports' tables (ApiEndpointService, which the SDK asks only for discovery, here)."""

DISCOVERY_METHODS = frozenset({LIST_ENDPOINTS, GET_ENDPOINT})


class CassetteError(Exception):
    """A cassette that cannot be read (not JSON, another format, an unknown message type)."""


def type_name(cls: type[Any]) -> str:
    """The full protobuf name of a generated message class."""
    return default_message_pool.type_to_url[cls].removeprefix(_TYPE_URL)


def message_type(name: str) -> type[Any] | None:
    """The generated class of a full protobuf name, or None when the specs lack it."""
    found: type[Any] | None = default_message_pool.url_to_type.get(_TYPE_URL + name)
    return found


_METHOD_BY_REQUEST = {type_name(request): path for path, (request, _) in METHODS.items()}


@dataclass
class Recorded:
    """One message as recorded: its full type name, proto3 JSON and, when that JSON does not
    carry every byte of it (unknown field numbers), the wire bytes themselves."""

    type: str
    message: Any
    wire: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.wire is not None:
            import base64

            data["wire"] = base64.b64encode(self.wire).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> Recorded:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise CassetteError(f"{where}: must be an object with a 'type' and a 'message'")
        wire = data.get("wire")
        if wire is not None:
            import base64

            wire = base64.b64decode(wire)
        return cls(type=data["type"], message=data.get("message", {}), wire=wire)


@dataclass
class Interaction:
    """One call: the method, what was asked and what was answered (or the error status)."""

    method: str
    request: Recorded
    response: Recorded | None
    code: int = 0
    details: str = ""
    transport: str = "grpc"
    http_status: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "method": self.method,
            "transport": self.transport,
            "request": self.request.to_json(),
            "requestHeaders": dict(self.request_headers),
            "status": {"code": self.code, "message": self.details},
            "response": self.response.to_json() if self.response is not None else None,
            "responseHeaders": dict(self.response_headers),
        }
        if self.http_status is not None:
            data["httpStatus"] = self.http_status
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> Interaction:
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise CassetteError(f"{where}: an interaction must be an object with a 'method'")
        status = data.get("status") or {}
        response = data.get("response")
        return cls(
            method=data["method"],
            transport=str(data.get("transport", "grpc")),
            request=Recorded.from_json(data.get("request"), f"{where}.request"),
            response=Recorded.from_json(response, f"{where}.response") if response else None,
            code=int(status.get("code", 0)),
            details=str(status.get("message", "")),
            http_status=data.get("httpStatus"),
            request_headers=dict(data.get("requestHeaders") or {}),
            response_headers=dict(data.get("responseHeaders") or {}),
        )


@dataclass
class Cassette:
    """The interactions of one recording, in the order they happened."""

    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = None
    official: bool = False  # read from the official SDK's .gprc.json format

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "interactions": [item.to_json() for item in self.interactions],
        }


def _official_message(data: Any, where: str) -> Recorded:
    """A ``{"module", "cls", "message"}`` of the official SDK: the protobuf package is the
    module's without its file name (``yandex.cloud.operation.operation_pb2`` ->
    ``yandex.cloud.operation``)."""
    if not isinstance(data, dict) or not {"module", "cls"} <= data.keys():
        raise CassetteError(f"{where}: must be an object with 'module', 'cls' and 'message'")
    package = str(data["module"]).rsplit(".", 1)[0]
    return Recorded(type=f"{package}.{data['cls']}", message=data.get("message", {}))


def _official(data: dict[str, Any], path: Path | None) -> Cassette:
    items = []
    for index, item in enumerate(data.get("interactions") or []):
        where = f"interactions[{index}]"
        if not isinstance(item, dict):
            raise CassetteError(f"{where}: must be an object")
        if "response_stream" in item:
            raise CassetteError(f"{where}: streamed answers are not served (no such method here)")
        request = _official_message(item.get("request"), f"{where}.request")
        method = _METHOD_BY_REQUEST.get(request.type)
        if method is None:
            raise CassetteError(f"{where}: no method here takes a {request.type}")
        response = _official_message(item.get("response"), f"{where}.response")
        items.append(Interaction(method=method, request=request, response=response))
    return Cassette(items, path, official=True)


def parse(data: Any, path: Path | None = None) -> Cassette:
    """A cassette from its JSON document (this project's format or the official SDK's)."""
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteError("a cassette is a JSON object with an 'interactions' list")
    if "format" not in data:
        return _official(data, path)
    if data.get("format") != FORMAT:
        raise CassetteError(f"unknown cassette format {data.get('format')!r} (expected {FORMAT})")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CassetteError(
            f"cassette version {version!r} is newer than this SDK reads ({VERSION}); upgrade"
        )
    items = [
        Interaction.from_json(item, f"interactions[{index}]")
        for index, item in enumerate(data["interactions"])
    ]
    return Cassette(items, path)


def load(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette file; :class:`CassetteError` names the file and the problem."""
    target = Path(path)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CassetteError(f"cannot read the cassette {target}: {exc}") from None
    try:
        return parse(data, target)
    except CassetteError as exc:
        raise CassetteError(f"{target}: {exc}") from None


def dumps(cassette: Cassette) -> str:
    """The stable text of a cassette: sorted keys, two-space indent, a final newline."""
    return json.dumps(cassette.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write the cassette atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(dumps(cassette))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
