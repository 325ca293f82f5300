"""The smoke stage's user, run by ``codegen/smoke.py`` in a fresh interpreter on the staged tree.

It uses the generated code as a user would, before codegen writes it:
imports every module, builds a request from each field of each model
(and checks the REST model takes it too), then round-trips every rpc of
the image service through an in-process emulator over gRPC and REST with
every field set. It prints one JSON object: ``{"failures": [...], "checks": N}``.
Each failure names the module, field or rpc and what went wrong.
"""

from __future__ import annotations

import datetime
import importlib
import json
import pkgutil
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

failures: list[str] = []
checks = 0


def attempt(what: str, action: Callable[[], object]) -> bool:
    global checks
    checks += 1
    try:
        action()
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        failures.append(f"{what}: {type(exc).__name__}: {exc} ({last.filename}:{last.lineno})")
        return False
    return True


def sample(rule: Any) -> Any:
    """A value ``rule`` accepts and the emulator serves: non-zero, so that it is sent."""
    if rule.label == "repeated":
        return [_one(rule)]
    if rule.label == "map":
        key = {"bool": True, "string": "key"}.get(rule.map_key or "string", 1)
        return {key: _one(rule)}
    return _one(rule)


def _one(rule: Any) -> Any:
    if rule.construct == "enum":
        named = [name for name, number in rule.enum_values if number != 0]
        return (named or [rule.enum_values[0][0]])[0]
    if rule.construct == "timestamp":
        return datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    if rule.construct == "duration":
        return datetime.timedelta(seconds=1.5)
    if rule.construct == "message":
        return values_of(rule.fields)
    kind = rule.kind
    if kind == "string":
        if rule.name == "mime_type":
            return "image/jpeg"  # the one format every image service draws
        text = "smoke" * max(1, (rule.min_length or 1))
        return text[: rule.max_length] if rule.max_length else text
    if kind == "bytes":
        return b"\x01"
    if kind == "bool":
        return True
    if kind in ("double", "float"):
        return 0.5
    low = max(rule.minimum if rule.minimum is not None else 1, 1)
    return low if rule.maximum is None else min(low, rule.maximum)


def values_of(rules: Iterable[Any]) -> dict[str, Any]:
    """A sample for every field, one member per oneof."""
    values: dict[str, Any] = {}
    taken: set[str] = set()
    for rule in rules:
        if rule.oneof is not None:
            if rule.oneof in taken:
                continue
            taken.add(rule.oneof)
        values[rule.name] = sample(rule)
    return values


def _read(message: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        message = getattr(message, part)
    return message


def model_class(module: Any, sync: bool) -> Any:
    from yandex_art._runtime.model import AsyncModelBase, SyncModelBase

    base = SyncModelBase if sync else AsyncModelBase
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise RuntimeError(f"{module.__name__}: expected one model class, found {found}")
    return found[0]


def check_fields(name: str) -> None:
    """Each field alone: configure() takes its sample and the request carries it, on both wires."""
    rules = importlib.import_module(f"yandex_art._gen.{name}_rules")
    model_module = importlib.import_module(f"yandex_art._gen.{name}.model")
    rest = importlib.import_module("yandex_art._gen.rest.models")
    cls = model_class(model_module, sync=True)
    model = cls(uri=f"{rules.URI_SCHEME}://folder/model/latest", core=None)
    request_model = getattr(rest, rules.REQUEST_TYPE.rsplit(".", 1)[-1], None)
    for rule in rules.OPTION_RULES:

        def one(rule: Any = rule) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                configured = model.configure(**{rule.name: sample(rule)})
            request = configured._build_request("smoke")
            options = getattr(request, rules.OPTIONS[0])
            type(request).parse(bytes(request))  # serialises and parses back
            if _read(options, rule.path) in (None, [], {}):
                raise AssertionError("the request does not carry it")
            if request_model is None:
                raise AssertionError(f"no REST model {rules.REQUEST_TYPE}")
            body = request_model.model_validate(request.to_dict()).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
            node = body
            for key in (rules.OPTIONS[1], *rule.json_path):
                if not isinstance(node, dict) or key not in node:
                    raise AssertionError(f"the REST body drops it ({key!r} missing)")
                node = node[key]

        attempt(f"{name}: field {rule.name} ({rule.construct}, {rule.label})", one)


def round_trips(name: str) -> None:
    """Every rpc of the image service through the emulator, both transports, every field set."""
    try:
        from yandex_art.emulator import Emulator
    except ImportError:
        return  # the emulator extra is not installed: imports and requests were still checked
    rules = importlib.import_module(f"yandex_art._gen.{name}_rules")
    options = values_of(rules.OPTION_RULES)
    with Emulator.start(generation_seconds=0, read_quota=None) as emu:
        for transport in ("grpc", "rest"):
            with emu.sdk(transport) as sdk, warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model = getattr(sdk.models, name)("yandex-art").configure(**options)
                for rpc in rules.RPCS:
                    attempt(f"{name}: rpc {rpc.name} over {transport}", _call(model, rpc))


def _call(model: Any, rpc: Any) -> Callable[[], object]:
    def call() -> None:
        args = ["smoke"] if rpc.takes_messages else []
        answer = getattr(model, rpc.method)(*args, **values_of(rpc.params))
        if rpc.deferred:
            answer = answer.wait(poll_timeout=30)
        if answer is None:
            raise AssertionError("no result")

    return call


def warm_up() -> None:
    """Imports what does not depend on the generated code, while codegen is still generating."""
    import aiohttp.web  # noqa: F401
    import grpc  # noqa: F401
    import grpclib.server  # noqa: F401
    import httpx  # noqa: F401
    import PIL.Image  # noqa: F401
    import pydantic  # noqa: F401

    import yandex_art._runtime.client_core
    import yandex_art._runtime.model  # noqa: F401


def main() -> None:
    try:
        warm_up()
    except ImportError:
        pass  # without the emulator extra: the round trips are skipped, the rest still runs
    if sys.stdin.readline().strip() != "go":  # the staged tree is complete
        return
    import yandex_art._gen as gen

    names = sorted(m.name for m in pkgutil.walk_packages(gen.__path__, "yandex_art._gen."))
    for module in names:
        attempt(f"import {module}", lambda module=module: importlib.import_module(module))
    if not failures:
        models = sorted(
            module.removeprefix("yandex_art._gen.").removesuffix("_rules")
            for module in names
            if module.endswith("_rules")
        )
        for name in models:
            check_fields(name)
        if not failures and "image_generation" in models:
            round_trips("image_generation")
    print(json.dumps({"failures": failures, "checks": checks}))


if __name__ == "__main__":
    sys.exit(main())
