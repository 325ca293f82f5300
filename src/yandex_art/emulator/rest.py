"""The REST face (aiohttp): the paths of specs/openapi/image_generation.yaml plus debug paths.

Every error answer is a ``google.rpc.Status`` JSON body; only injected faults
produce 5xx. Debug paths (no credentials needed): ``GET /_emulator/stats``,
``GET``/``POST /_emulator/faults`` and ``POST /_emulator/reset``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from grpclib.const import Status

from .._gen.proto.yandex.cloud.ai.foundation_models.v1.image_generation import (
    AspectRatio,
    ImageGenerationOptions,
    ImageGenerationRequest,
    Message,
)
from .core import INT64_MAX, INT64_MIN, EmulatorError, EmulatorService, OperationView

__all__ = ["build_app", "operation_json", "parse_generation_request"]

log = logging.getLogger(__name__)

GENERATE_PATH = "/foundationModels/v1/imageGenerationAsync"
_INT = re.compile(r"-?[0-9]+")
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


def _get(obj: dict[str, Any], key: str, path: str) -> Any:
    value = obj.get(key)
    if key in obj and value is None:
        raise _invalid(path, "must not be null")
    return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(path, f"must be a JSON object, got {_kind(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _invalid(path, f"must be a string, got {_kind(value)}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(path, f"must be a number, got {_kind(value)}")
    try:
        return float(value)
    except OverflowError:
        raise _invalid(path, "is out of the range of a double") from None


def _int64(value: Any, path: str) -> int:
    if isinstance(value, str) and _INT.fullmatch(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _invalid(
            path, f"must be an int64 (an integer or a decimal string), got {_kind(value)}"
        )
    if not INT64_MIN <= number <= INT64_MAX:
        raise _invalid(path, "is out of the int64 range")
    return number


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


def parse_generation_request(body: Any) -> ImageGenerationRequest:
    """Read an ``ImageGenerationRequest`` from JSON, checking types as the OpenAPI schema does.

    Unknown keys are ignored, as the schema allows additional properties.
    """
    if not isinstance(body, dict):
        raise EmulatorError(
            Status.INVALID_ARGUMENT,
            f"the request body must be a JSON object (ImageGenerationRequest), got {_kind(body)}",
        )
    request = ImageGenerationRequest()
    uri = _get(body, "modelUri", "modelUri")
    if uri is not None:
        request.model_uri = _string(uri, "modelUri")
    messages = _get(body, "messages", "messages")
    if messages is not None:
        if not isinstance(messages, list):
            raise _invalid("messages", f"must be an array, got {_kind(messages)}")
        for index, item in enumerate(messages):
            where = f"messages[{index}]"
            item = _object(item, where)
            message = Message()
            text = _get(item, "text", f"{where}.text")
            if text is not None:
                message.text = _string(text, f"{where}.text")
            weight = _get(item, "weight", f"{where}.weight")
            if weight is not None:
                message.weight = _number(weight, f"{where}.weight")
            request.messages.append(message)
    options = _get(body, "generationOptions", "generationOptions")
    if options is not None:
        options = _object(options, "generationOptions")
        parsed = ImageGenerationOptions()
        mime_type = _get(options, "mimeType", "generationOptions.mimeType")
        if mime_type is not None:
            parsed.mime_type = _string(mime_type, "generationOptions.mimeType")
        seed = _get(options, "seed", "generationOptions.seed")
        if seed is not None:
            parsed.seed = _int64(seed, "generationOptions.seed")
        ratio = _get(options, "aspectRatio", "generationOptions.aspectRatio")
        if ratio is not None:
            ratio = _object(ratio, "generationOptions.aspectRatio")
            aspect = AspectRatio()
            for key, attr in (("widthRatio", "width_ratio"), ("heightRatio", "height_ratio")):
                path = f"generationOptions.aspectRatio.{key}"
                value = _get(ratio, key, path)
                if value is not None:
                    setattr(aspect, attr, _int64(value, path))
            parsed.aspect_ratio = aspect
        request.generation_options = parsed
    return request


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise EmulatorError(Status.INVALID_ARGUMENT, "the request body is empty; send JSON")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise EmulatorError(
            Status.INVALID_ARGUMENT, f"the request body is not valid JSON: {message}"
        ) from None


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
    view = await service.generate(params, authorization)
    return web.json_response(operation_json(view))


async def _operation(request: web.Request) -> web.Response:
    service = request.app[_SERVICE_KEY]
    operation_id = request.match_info["operation_id"]
    authorization = request.headers.get("authorization")
    if operation_id.endswith(":cancel"):
        await service.enter("cancel", authorization)
        view = service.cancel(operation_id.removesuffix(":cancel"))
    else:
        await service.enter("get", authorization)
        view = await service.get(operation_id)
    return web.json_response(operation_json(view))


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
    app.router.add_get("/_emulator/stats", _stats, allow_head=False)
    app.router.add_get("/_emulator/faults", _get_faults, allow_head=False)
    app.router.add_post("/_emulator/faults", _post_faults)
    app.router.add_post("/_emulator/reset", _reset)
    return app
