"""Cheap, deterministic pictures for the emulator (a few milliseconds each).

The picture depends only on the prompt, the seed, the pixel size and the
format: a colour gradient with a few blobs, drawn on a small canvas and
scaled up with nearest-neighbour sampling (fast, and JPEG-friendly blocks).
"""

from __future__ import annotations

import hashlib
import io
import random
from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock

__all__ = [
    "DEFAULT_LONG_SIDE",
    "MAX_SIDE",
    "SUPPORTED_MIME_TYPES",
    "image_size",
    "prompt_digest",
    "render_image",
    "render_prompt",
]

DEFAULT_LONG_SIDE = 1024
MAX_SIDE = 8192
"""The largest pixel side the emulator draws (``image_long_side`` is bounded by it)."""
SUPPORTED_MIME_TYPES = ("image/jpeg", "image/png")
_CELL = 16  # pixels of the final image per canvas pixel
_CACHE_SIZE = 64

_cache: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
_cache_lock = Lock()


def image_size(
    width_ratio: int, height_ratio: int, long_side: int = DEFAULT_LONG_SIDE
) -> tuple[int, int]:
    """Pixel size for an aspect ratio: the longer side is ``long_side`` (1:1 when unset)."""
    if width_ratio <= 0 or height_ratio <= 0:
        width_ratio = height_ratio = 1
    if width_ratio >= height_ratio:
        return long_side, max(1, round(long_side * height_ratio / width_ratio))
    return max(1, round(long_side * width_ratio / height_ratio)), long_side


def _colour(rnd: random.Random) -> tuple[int, int, int]:
    return (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))


def prompt_digest(texts: Sequence[str]) -> str:
    """A fixed-size stand-in for the prompt: what operation records keep instead of the text."""
    return hashlib.sha256("\x00".join(texts).encode("utf-8", "surrogatepass")).hexdigest()


def render_image(
    texts: Sequence[str], seed: int, width: int, height: int, mime_type: str = "image/jpeg"
) -> bytes:
    """Encoded picture (JPEG or PNG) for a prompt and seed, ``width`` x ``height`` pixels."""
    return render_prompt(prompt_digest(texts), seed, width, height, mime_type)


def render_prompt(
    digest: str, seed: int, width: int, height: int, mime_type: str = "image/jpeg"
) -> bytes:
    """The picture of :func:`render_image`, from the prompt's :func:`prompt_digest`."""
    if mime_type not in SUPPORTED_MIME_TYPES:
        raise ValueError(f"unsupported MIME type {mime_type!r}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"{width}x{height} is not within 1..{MAX_SIDE} pixels a side")
    key = (digest, seed, width, height, mime_type)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    data = _draw(digest, seed, width, height, mime_type)
    with _cache_lock:
        _cache[key] = data
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def _draw(prompt: str, seed: int, width: int, height: int, mime_type: str) -> bytes:
    from PIL import Image, ImageDraw

    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode("ascii")).digest()
    rnd = random.Random(digest)
    small = (max(1, -(-width // _CELL)), max(1, -(-height // _CELL)))
    gradient = Image.linear_gradient("L").rotate(rnd.choice((0, 90, 180, 270))).resize(small)
    canvas = Image.composite(
        Image.new("RGB", small, _colour(rnd)), Image.new("RGB", small, _colour(rnd)), gradient
    )
    draw = ImageDraw.Draw(canvas)
    side = max(small)
    for _ in range(rnd.randint(3, 7)):
        x, y = rnd.uniform(-0.2, 1.0) * small[0], rnd.uniform(-0.2, 1.0) * small[1]
        size = rnd.uniform(0.1, 0.45) * side
        box = (x, y, x + size, y + size * rnd.uniform(0.5, 1.5))
        if rnd.random() < 0.6:
            draw.ellipse(box, fill=_colour(rnd))
        else:
            draw.rectangle(box, fill=_colour(rnd))
    picture = canvas.resize((small[0] * _CELL, small[1] * _CELL), Image.Resampling.NEAREST)
    if picture.size != (width, height):
        picture = picture.crop((0, 0, width, height))
    out = io.BytesIO()
    if mime_type == "image/png":
        picture.save(out, "PNG", compress_level=1)
    else:
        picture.save(out, "JPEG", quality=80)
    return out.getvalue()
