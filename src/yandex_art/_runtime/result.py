"""A result holding an image: its format from its first bytes, save(), notebook display, repr."""

from __future__ import annotations

import dataclasses
import mimetypes
from pathlib import Path
from typing import ClassVar

from .errors import InvalidArgumentError

__all__ = ["ImageResult"]

_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


@dataclasses.dataclass(frozen=True, repr=False)
class ImageResult:
    """Base of generated result dataclasses; ``_image_field`` names the bytes field."""

    _image_field: ClassVar[str]

    @property
    def _image(self) -> bytes:
        image: bytes = getattr(self, self._image_field)
        return image

    @property
    def mime_type(self) -> str | None:
        """The image format told by its first bytes (None when unknown)."""
        for magic, mime in _MAGIC:
            if self._image.startswith(magic):
                return mime
        return None

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Writes the image to ``path`` and returns the path written.

        A path without a suffix gets the image's (``.jpeg``, ``.png``). A suffix
        naming another image type (``x.jpeg`` for a PNG) raises
        :class:`~.errors.InvalidArgumentError` unless ``force``. Bytes of an
        unknown format are written as given.
        """
        target, mime = Path(path), self.mime_type
        if mime is not None and not target.suffix:
            target = target.with_name(f"{target.name}.{mime.split('/')[1]}")
        named = mimetypes.guess_type(target.name)[0] or ""
        if mime is not None and not force and named.startswith("image/") and named != mime:
            raise InvalidArgumentError(
                "path",
                f"{target.name!r} names an {named} file but the image is {mime}; "
                "choose a matching name, or pass force=True to write it anyway",
            )
        target.write_bytes(self._image)
        return target

    def _repr_jpeg_(self) -> bytes | None:
        return self._image if self.mime_type == "image/jpeg" else None

    def _repr_png_(self) -> bytes | None:
        return self._image if self.mime_type == "image/png" else None

    def __repr__(self) -> str:
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name != self._image_field
        ]
        kind = self.mime_type or "unknown format"
        shown.append(f"{self._image_field}=<{len(self._image)} bytes, {kind}>")
        return f"{type(self).__name__}({', '.join(shown)})"
