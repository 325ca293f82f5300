"""``--shrink-images``: each recorded image replaced by a small valid one of the same type and
proportions, so a cassette stays small enough to review and commit."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from .format import Recorded

__all__ = ["shrink", "shrink_image"]

_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}
_LONG_SIDE = 16
_MIN_BASE64 = 1024  # shorter strings are not worth decoding


def _format(data: bytes) -> str | None:
    return next((name for magic, name in _MAGIC.items() if data.startswith(magic)), None)


def shrink_image(data: bytes) -> bytes | None:
    """A small image of the same type and proportions, or None when ``data`` is not one."""
    kind = _format(data)
    if kind is None:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:
        return None
    scale = _LONG_SIDE / max(width, height, 1)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    out = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(out, format=kind)
    return out.getvalue()


def _walk(value: Any) -> tuple[Any, bool]:
    """``value`` with every base64 string holding an image shrunk; and whether one was."""
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            out[key], hit = _walk(item)
            changed = changed or hit
        return out, changed
    if isinstance(value, list):
        walked = [_walk(item) for item in value]
        return [item for item, _ in walked], any(hit for _, hit in walked)
    if isinstance(value, str) and len(value) >= _MIN_BASE64:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return value, False
        small = shrink_image(data)
        if small is not None:
            return base64.b64encode(small).decode("ascii"), True
    return value, False


def shrink(recorded: Recorded) -> Recorded:
    """The recorded message with its images shrunk (its wire dropped when one was: the
    JSON is then the message)."""
    message, changed = _walk(recorded.message)
    if not changed:
        return recorded
    return Recorded(type=recorded.type, message=message, wire=None)
