"""The REST face (aiohttp): the paths of specs/openapi/image_generation.yaml plus debug paths.

Every error answer is a ``google.rpc.Status`` JSON body; only injected faults
produce 5xx. Debug paths (no credentials needed): ``GET /_emulator/stats``,
``GET``/``POST /_emulator/faults`` and ``POST /_emulator/reset``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from grpclib.const import Status

from .._gen import image_generation_rules as RULES
from .._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationRequest,
)
from .._runtime.validation import INT64_MAX, INT64_MIN
from .service import EmulatorError, EmulatorService, OperationView

__all__ = ["build_app", "operation_json", "parse_generation_request"]

log = logging.getLogger(__name__)

GENERATE_PATH = "/foundationModels/v1/imageGenerationAsync"
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INT_RANGES = {
    "int64": (INT64_MIN, INT64_MAX),
    "uint64": (0, 2**64 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_HTTP_TO_GRPC = {
    400: Status.INVALID_ARGUMENT,
    401: Status.UNAUTHENTICATED,
    403: Status.PERMISSION_DENIED,
    404: Status.NOT_FOUND,
    405: Status.UNIMPLEMENTED,
    409: Status.ABORTED,
    413: Status.INVALID_ARGUMENT,
    415: Status.INVALID_ARGUMENT,
    429: Status.RESOURCE_EXHAUSTED,
}
_SERVICE_KEY: web.AppKey[EmulatorService] = web.AppKey("service", EmulatorService)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _rfc3339(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def operation_json(view: OperationView) -> dict[str, Any]:
    """An operation in the proto3 JSON mapping."""
    data: dict[str, Any] = {
        "id": view.id,
        "description": view.description,
        "createdAt": _rfc3339(view.created_at),
        "createdBy": view.created_by,
        "modifiedAt": _rfc3339(view.modified_at),
        "done": view.done,
    }
    if view.error is not None:
        data["error"] = {"code": view.error[0], "message": view.error[1], "details": []}
    elif view.response is not None:
        response: dict[str, Any] = {"@type": view.response.type_url}
        if view.response.image:
            response["image"] = base64.b64encode(view.response.image).decode("ascii")
        if view.response.model_version:
            response["modelVersion"] = view.response.model_version
        data["response"] = response
    return data


def _status_body(status: Status, message: str) -> dict[str, Any]:
    return {"code": status.value, "message": message, "details": []}


def _error_response(status: Status, message: str, http_status: int) -> web.Response:
    return web.json_response(_status_body(status, message), status=http_status)


# -- request bodies -------------------------------------------------------------


def _invalid(path: str, problem: str) -> EmulatorError:
    return EmulatorError(Status.INVALID_ARGUMENT, f"{path}: {problem}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}" if len(repr(value)) < 30 else "a number"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) < 30 else "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(path, f"must be a JSON object, got {_kind(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _invalid(path, f"must be a string, got {_kind(value)}")
    return value


def _double(value: Any, path: str) -> float:
    """A proto3 JSON double: a number, or a string holding one ("1", "1.5e3", "NaN", "Infinity")."""
    if isinstance(value, str):
        if not (_NUMBER.fullmatch(value) or value in ("NaN", "Infinity", "-Infinity")):
            raise _invalid(path, f"must be a number or a numeric string, got {_kind(value)}")
        number = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise _invalid(path, "is out of the range of a double") from None
    else:
        raise _invalid(path, f"must be a number, got {_kind(value)}")
    if math.isinf(number) and value not in ("Infinity", "-Infinity"):
        raise _invalid(path, "is out of the range of a double")
    return number


def _integer(value: Any, path: str, kind: str) -> int:
    """A proto3 JSON integer: a number or a decimal string, integral and within ``kind``'s range."""
    number: int | None = None
    if isinstance(value, str):
        if _NUMBER.fullmatch(value):
            number = _integral(Decimal(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and math.isfinite(value):
        number = _integral(Decimal(value))
    if number is None:
        raise _invalid(
            path, f"must be an {kind} (an integer or a decimal string), got {_kind(value)}"
        )
    low, high = _INT_RANGES.get(kind, _INT_RANGES["int64"])
    if not low <= number <= high:
        raise _invalid(path, f"is out of the {kind} range")
    return number


def _integral(value: Decimal) -> int | None:
    if value != value.to_integral_value() or abs(value) > 2**64:
        return None
    return int(value)


def _scalar(rule: Any, value: Any, path: str) -> Any:
    """A JSON value as ``from_dict`` takes it for the rule's proto type."""
    if rule.py_type == "str":
        return _string(value, path)
    if rule.py_type == "float":
        return _double(value, path)
    if rule.py_type == "int":
        number = _integer(value, path, rule.kind)
        return str(number) if rule.kind in ("int64", "uint64") else number
    if rule.py_type == "bool":
        if not isinstance(value, bool):
            raise _invalid(path, f"must be true or false, got {_kind(value)}")
        return value
    raise _invalid(path, f"has a type the emulator cannot read ({rule.kind})")


def _fill(source: dict[str, Any], target: dict[str, Any], rules: Any, where: str) -> None:
    """Copy the fields of ``rules`` from a JSON object, checking their types.

    ``null`` means "not set" for every field, as in the proto3 JSON mapping;
    a sub-message that is present (even ``{}``) stays present; unknown keys
    are ignored.
    """
    for rule in rules:
        node, out, path = source, target, where
        for depth, key in enumerate(rule.json_path):
            path = f"{path}.{key}" if path else key
            value = node.get(key)
            if value is None:
                break
            if depth == len(rule.json_path) - 1:
                out[key] = _scalar(rule, value, path)
            else:
                node = _object(value, path)
                out = out.setdefault(key, {})


def parse_generation_request(
    body: Any, *, rules: Any = RULES, request_type: Any = ImageGenerationRequest
) -> Any:
    """Read an ``ImageGenerationRequest`` from its proto3 JSON form, driven by the rules table.

    int64 and double values are accepted as JSON numbers or strings, fields
    may be left out or ``null``, sub-messages may be ``{}``. Unknown keys are
    ignored. Type errors name the field by its JSON path.
    """
    if not isinstance(body, dict):
        raise EmulatorError(
            Status.INVALID_ARGUMENT,
            f"the request body must be a JSON object (ImageGenerationRequest), got {_kind(body)}",
        )
    data: dict[str, Any] = {}
    uri_key = rules.MODEL_URI[1]
    if body.get(uri_key) is not None:
        data[uri_key] = _string(body[uri_key], uri_key)
    messages_key = rules.MESSAGES[1]
    messages = body.get(messages_key)
    if messages is not None:
        if not isinstance(messages, list):
            raise _invalid(messages_key, f"must be an array, got {_kind(messages)}")
        parsed: list[dict[str, Any]] = []
        for index, item in enumerate(messages):
            where = f"{messages_key}[{index}]"
            message: dict[str, Any] = {}
            _fill(_object(item, where), message, rules.MESSAGE_RULES, where)
            parsed.append(message)
        data[messages_key] = parsed
    options_key = rules.OPTIONS[1]
    options = body.get(options_key)
    if options is not None:
        data[options_key] = {}
        _fill(_object(options, options_key), data[options_key], rules.OPTION_RULES, options_key)
    return request_type.from_dict(data)


def _check_text(value: Any, depth: int = 0) -> None:
    """Refuse strings that cannot be UTF-8 (lone surrogates from ``\\ud800`` escapes)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise EmulatorError(
                    Status.INVALID_ARGUMENT,
                    "the request body is not valid JSON text: it has a lone UTF-16 surrogate",
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise EmulatorError(Status.INVALID_ARGUMENT, "the request body is empty; send JSON")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise EmulatorError(
            Status.INVALID_ARGUMENT, f"the request body is not valid JSON: {message}"
        ) from None
    _check_text(data)
    return data


def _check_headers(request: web.Request) -> None:
    request_id = request.headers.get("x-client-request-id")
    if request_id is not None:
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise EmulatorError(
                Status.INVALID_ARGUMENT, "x-client-request-id: must be a UUID"
            ) from None
    logging_flag = request.headers.get("x-data-logging-enabled")
    if logging_flag is not None and logging_flag.strip().lower() not in ("true", "false"):
        raise EmulatorError(
            Status.INVALID_ARGUMENT, "x-data-logging-enabled: must be true or false"
        )


# -- handlers -------------------------------------------------------------------


async def _generate(request: web.Request) -> web.Response:
    service = request.app[_SERVICE_KEY]
    authorization = request.headers.get("authorization")
    await service.enter("generate", authorization)
    _check_headers(request)
    body = await _json_body(request)
    params = service.validate(parse_generation_request(body), json_names=True)
    view = await service.generate(
        params, authorization, idempotency_key=request.headers.get("idempotency-key")
    )
    return web.json_response(operation_json(view))


async def _operation(request: web.Request) -> web.Response:
    service = request.app[_SERVICE_KEY]
    operation_id = request.match_info["operation_id"]
    authorization = request.headers.get("authorization")
    # WHY the raw path: the route's ``:cancel`` is literal, while a ``:`` of the id itself
    # arrives encoded (``%3A``) and is decoded in match_info; a read of ``<id>:cancel`` is a read.
    if request.rel_url.raw_path.endswith(":cancel"):
        await service.enter("cancel", authorization)
        view = service.cancel(operation_id.removesuffix(":cancel"))
    else:
        await service.enter("get", authorization)
        view = await service.get(operation_id)
    return web.json_response(operation_json(view))


async def _endpoints(request: web.Request) -> web.Response:
    """``GET /endpoints``: the endpoint discovery as JSON (what ApiEndpointService.List says
    over gRPC), every service at this REST address, as the client reached it."""
    service = request.app[_SERVICE_KEY]
    await service.enter("endpoints", request.headers.get("authorization"))
    address = request.host if ":" in request.host.rsplit("]", 1)[-1] else f"{request.host}:80"
    endpoints = [{"id": sid, "address": address} for sid in service.endpoint_ids()]
    return web.json_response({"endpoints": endpoints})


async def _stats(request: web.Request) -> web.Response:
    service = request.app[_SERVICE_KEY]
    data = service.stats().to_dict()
    data["faults"] = service.faults.snapshot()
    return web.json_response(data)


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[_SERVICE_KEY].faults.snapshot())


async def _post_faults(request: web.Request) -> web.Response:
    service = request.app[_SERVICE_KEY]
    body = await _json_body(request)
    try:
        service.faults.apply(body)
    except (ValueError, TypeError) as exc:
        raise EmulatorError(Status.INVALID_ARGUMENT, str(exc)) from None
    return web.json_response(service.faults.snapshot())


async def _reset(request: web.Request) -> web.Response:
    request.app[_SERVICE_KEY].reset()
    return web.json_response({})


@web.middleware
async def _answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = str(uuid.uuid4())
    response: web.StreamResponse
    try:
        response = await handler(request)
    except EmulatorError as exc:
        response = _error_response(exc.status, exc.message, exc.http_status)
    except web.HTTPException as exc:
        status = _HTTP_TO_GRPC.get(exc.status, Status.UNKNOWN)
        message = exc.reason
        if exc.status == 404:
            message = f"no such path: {request.method} {request.path[:200]}"
        elif exc.status == 405:
            allowed = exc.headers.get("Allow", "")
            message = f"method {request.method} is not allowed here; allowed: {allowed}"
        response = _error_response(status, message, exc.status)
        for header in ("Allow",):
            if header in exc.headers:
                response.headers[header] = exc.headers[header]
    except Exception:  # a bug: say so, but keep serving
        log.exception("emulator REST handler failed")
        response = _error_response(Status.INTERNAL, "internal error of the emulator", 500)
    response.headers["x-request-id"] = request_id
    return response


def build_app(service: EmulatorService) -> web.Application:
    """The aiohttp application serving ``service``."""
    app = web.Application(middlewares=[_answer_errors])
    app[_SERVICE_KEY] = service
    app.router.add_post(GENERATE_PATH, _generate)
    app.router.add_get("/operations/{operation_id}", _operation, allow_head=False)
    app.router.add_get("/endpoints", _endpoints, allow_head=False)
    app.router.add_get("/_emulator/stats", _stats, allow_head=False)
    app.router.add_get("/_emulator/faults", _get_faults, allow_head=False)
    app.router.add_post("/_emulator/faults", _post_faults)
    app.router.add_post("/_emulator/reset", _reset)
    return app
