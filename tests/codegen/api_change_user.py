"""A user's first minutes with an SDK regenerated after an API change (run in a fresh process).

``python api_change_user.py CHANGE`` with ``PYTHONPATH`` pointing at a tree
whose ``yandex_art._gen`` was regenerated from changed specs. It imports
every generated module, starts the in-process emulator, and exercises what
the change added over gRPC and REST. It prints one JSON line: the checks
that passed; any failure is an exception (exit code 1).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import warnings
from collections.abc import Callable
from typing import Any

from yandex_art import InvalidArgumentError
from yandex_art.emulator import Emulator

JPEG = b"\xff\xd8"


def _import_everything() -> int:
    import yandex_art._gen as gen

    names = [m.name for m in pkgutil.walk_packages(gen.__path__, prefix="yandex_art._gen.")]
    for name in names:
        importlib.import_module(name)
    return len(names)


def _refused_before_sending(emu: Emulator, call: Callable[[], object], *names: str) -> None:
    before = dict(emu.stats().calls)
    try:
        call()
    except (InvalidArgumentError, TypeError) as exc:
        text = str(exc)
        missing = [name for name in names if name not in text]
        if missing:
            raise AssertionError(f"the error does not name {missing}: {text}") from None
    else:
        raise AssertionError(f"not refused: expected an error naming {names}")
    if dict(emu.stats().calls) != before:
        raise AssertionError("something was sent before the refusal")


def _image(result: Any) -> None:
    if result.image_bytes[:2] != JPEG:
        raise AssertionError(f"not a JPEG: {result.image_bytes[:8]!r}")


def main(change: str) -> dict[str, Any]:
    done: dict[str, Any] = {"modules": _import_everything()}
    with Emulator.start(generation_seconds=0, read_quota=None) as emu:
        for transport in ("grpc", "rest"):
            with emu.sdk(transport) as sdk:
                model = sdk.models.image_generation("yandex-art")
                # every change leaves the prompt limit on both transports
                _refused_before_sending(emu, lambda m=model: m.run_deferred("x" * 501), "text")
                configured = _exercise(change, emu, model)
                _image(configured.run_deferred("a red cat").wait(poll_timeout=30))
                done[transport] = "generated"
    return done


def _exercise(change: str, emu: Emulator, model: Any) -> Any:
    """The model configured with the new field (checks of the field's refusals included)."""
    if change == "enum_option":
        _refused_before_sending(emu, lambda: model.configure(style="WATERCOLOR"), "style")
        return model.configure(style="PHOTO")
    if change == "repeated_bytes":
        return model.configure(references=[b"\x01\x02", b"\x03"])
    if change == "oneof_option":
        _refused_before_sending(
            emu, lambda: model.configure(width=5, preset="square"), "width", "preset"
        )
        return model.configure(width=512).configure(preset="square")  # the later member wins
    if change == "map_option":
        return model.configure(labels={"team": "art", "run": "7"})
    if change == "int64_wrapper":
        return model.configure(steps=0)  # a wrapper sends 0 as a value
    if change == "deprecated_field":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            configured = model.configure(variants=2)
        if not any(issubclass(w.category, DeprecationWarning) for w in caught):
            raise AssertionError("a deprecated field did not warn")
        if caught[0].filename != __file__:
            raise AssertionError(f"the warning points at {caught[0].filename}, not the caller")
        return configured
    if change == "generate_sync":
        _image(model.configure(seed=5).generate_sync("a blue cat"))
        return model
    if change == "edit_operation":
        operation = model.edit_deferred("a green cat", image=b"\x01\x02\x03")
        _image(operation.wait(poll_timeout=30))
        _refused_before_sending(
            emu, lambda: model.edit_deferred("a cat", image="not bytes"), "image"
        )
        return model
    if change == "today":
        return model.configure(seed=50, width_ratio=1, height_ratio=2)
    raise AssertionError(f"unknown change {change!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
