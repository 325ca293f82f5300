"""The REST face (aiohttp): the paths of specs/openapi/image_generation.yaml plus debug paths.

Every error answer is a ``google.rpc.Status`` JSON body; only injected faults
produce 5xx. Debug paths (no credentials needed): ``GET /_emulator/stats``,
``GET``/``POST /_emulator/faults`` and ``POST /_emulator/reset``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from grpclib.const import Status

from .._gen import image_generation_rules as RULES
from .._gen.proto.message_pool import default_message_pool
from .._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    ImageGenerationRequest,
)
from .._runtime import fields
from .errors import EmulatorError, invalid
from .faults import status_of
from .service import EmulatorService
from .views import OperationView, result_json

__all__ = ["build_app", "operation_json", "parse_generation_request"]

log = logging.getLogger(__name__)

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
    moment = datetime.fromtimestamp(seconds, timezone.utc)
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
        response.update(result_json(view.response.image, view.response.model_version))
        data["response"] = response
    return data


def _status_body(status: Status, message: str) -> dict[str, Any]:
    return {"code": status.value, "message": message, "details": []}


def _error_response(status: Status, message: str, http_status: int) -> web.Response:
    return web.json_response(_status_body(status, message), status=http_status)


# -- request bodies -------------------------------------------------------------


def _request_from_json(body: Any, rpc: fields.RpcRule, rules: Any) -> dict[str, Any]:
    """Canonical values by proto name of a request's proto3 JSON body, driven by the rules.

    int64 and double values are accepted as JSON numbers or strings, fields
    may be left out or ``null``, sub-messages may be ``{}``. Unknown keys are
    ignored. Type errors name the field by its JSON path.
    """
    name = rpc.request_type.rsplit(".", 1)[-1]
    if not isinstance(body, dict):
        raise EmulatorError(
            Status.INVALID_ARGUMENT,
            f"the request body must be a JSON object ({name}), got {fields.describe_json(body)}",
        )
    data: dict[str, Any] = {}
    if rpc.uri_field is not None:
        uri_key = rules.MODEL_URI[1]
        uri = body.get(uri_key, body.get(rules.MODEL_URI[0]))  # parsers accept both names
        if uri is not None:
            data[rules.MODEL_URI[0]] = fields.json_scalar("string", uri, uri_key)
    if rpc.takes_messages:
        messages_key = rules.MESSAGES[1]
        messages = body.get(messages_key)
        if messages is not None:
            if not isinstance(messages, list):
                raise invalid(
                    messages_key, f"must be an array, got {fields.describe_json(messages)}"
                )
            data[rules.MESSAGES[0]] = [
                fields.message_from_json(rules.MESSAGE_RULES, item, f"{messages_key}[{index}]")
                for index, item in enumerate(messages)
            ]
    if rpc.takes_options:
        options_key = rules.OPTIONS[1]
        options = body.get(options_key)
        if options is not None:
            data[rules.OPTIONS[0]] = _options_from_json(options, options_key, rules)
    data.update(fields.message_from_json(rpc.params, body, ""))
    return data


def _options_from_json(options: Any, where: str, rules: Any) -> dict[str, Any]:
    """The options object: flattened rules read back into their nested messages.

    A sub-message that is present (even ``{}``) stays present.
    """
    if not isinstance(options, dict):
        raise invalid(where, f"must be a JSON object, got {fields.describe_json(options)}")
    out: dict[str, Any] = {}
    for rule in rules.OPTION_RULES:
        node, target, path = options, out, where
        for depth, key in enumerate(rule.json_path):
            path = f"{path}.{key}"
            value = node.get(key, node.get(rule.path[depth]))
            if value is None:
                break
            if depth == len(rule.json_path) - 1:
                target[rule.path[depth]] = fields.from_json(rule, value, path)
            else:
                if not isinstance(value, dict):
                    raise invalid(path, f"must be a JSON object, got {fields.describe_json(value)}")
                node = value
                target = target.setdefault(rule.path[depth], {})
    return out


def parse_request(
    body: Any, *, rules: Any = RULES, rpc: fields.RpcRule | None = None, request_type: Any = None
) -> Any:
    """Read a request of ``rpc`` (the main one by default) from its proto3 JSON form."""
    rpc = rpc if rpc is not None else rules.RPCS[0]
    if request_type is None:
        request_type = default_message_pool.url_to_type[f"type.googleapis.com/{rpc.request_type}"]
    try:
        return fields.build(request_type, _request_from_json(body, rpc, rules))
    except fields.WireError as exc:
        raise invalid(exc.where, exc.problem) from None


def parse_generation_request(
    body: Any, *, rules: Any = RULES, request_type: Any = ImageGenerationRequest
) -> Any:
    """Read an ``ImageGenerationRequest`` from its proto3 JSON form (see :func:`parse_request`)."""
    return parse_request(body, rules=rules, request_type=request_type)


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


MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (aiohttp's default, set explicitly)."""


async def _json_body(request: web.Request) -> Any:
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        # Refused by its declared length, before a byte of it is buffered.
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=length)
    raw = await request.read()  # no declared length: read() stops at client_max_size
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


def _rpc_handler(rpc: fields.RpcRule, body_rule: str | None) -> Handler:
    """The handler of one rpc of the image service, from its ``google.api.http`` rule: an
    operation rpc answers with the operation, a unary one with the finished result."""

    async def handle(request: web.Request) -> web.Response:
        service = request.app[_SERVICE_KEY]
        authorization = request.headers.get("authorization")
        await service.enter("generate", authorization)
        _check_headers(request)
        if body_rule == "*":
            body = await _json_body(request)
        else:  # path parameters and the query string carry the fields
            body = {**request.query, **request.match_info}
        message = parse_request(body, rpc=rpc)
        params = service.validate(message, json_names=True, rpc=rpc)
        view = await service.generate(
            params,
            authorization,
            idempotency_key=request.headers.get("idempotency-key"),
            result_type_url=rpc.result_type_url,
        )
        if rpc.deferred:
            return web.json_response(operation_json(view))
        view = await service.finished(view.id)
        if view.error is not None:
            raise EmulatorError(status_of(view.error[0]), view.error[1])
        answer = operation_json(view).get("response", {})
        answer.pop("@type", None)
        return web.json_response(answer)

    return handle


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
    app = web.Application(middlewares=[_answer_errors], client_max_size=MAX_BODY_BYTES)
    app[_SERVICE_KEY] = service
    for rpc in RULES.RPCS:  # every rpc of the image service with an http rule
        if rpc.http_method is not None and rpc.http_path is not None:
            body = "*" if rpc.http_method in ("POST", "PUT", "PATCH") else None
            app.router.add_route(rpc.http_method, rpc.http_path, _rpc_handler(rpc, body))
    app.router.add_get("/operations/{operation_id}", _operation, allow_head=False)
    app.router.add_get("/endpoints", _endpoints, allow_head=False)
    app.router.add_get("/_emulator/stats", _stats, allow_head=False)
    app.router.add_get("/_emulator/faults", _get_faults, allow_head=False)
    app.router.add_post("/_emulator/faults", _post_faults)
    app.router.add_post("/_emulator/reset", _reset)
    return app
