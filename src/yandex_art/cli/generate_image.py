"""Where ``generate`` and ``attach`` put the image: the ``-o`` checks made before anything
is sent (a paid image must have somewhere to go), and the write itself."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EXIT_FAILURE, EXIT_USAGE, CliError
from .output import EXTENSIONS, Output, extension

if TYPE_CHECKING:
    from .._gen.image_generation import ImageGenerationModelResult

__all__ = ["check_output", "image_size", "output_mime_type", "save"]


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        import io

        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size  # for 3.10, Pillow types the with-target as Any
            return size
    except Exception:
        return None


def check_output(path: str | None) -> None:
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise CliError(f"cannot write {path}: it is a directory", EXIT_USAGE)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: directory {parent} does not exist", EXIT_USAGE)
    if not os.access(parent, os.W_OK):
        raise CliError(f"cannot write {path}: directory {parent} is not writable", EXIT_USAGE)


def output_mime_type(args: argparse.Namespace) -> None:
    """A ``-o`` named ``.png``/``.jpeg`` asks for that type when ``--mime-type`` is not
    given, and contradicts a ``--mime-type`` asking for another (refused before sending)."""
    import mimetypes

    if not args.output or args.output == "-" or not hasattr(args, "option__mime_type"):
        return
    named = mimetypes.guess_type(Path(args.output).name)[0]
    if named not in EXTENSIONS:
        return
    if args.option__mime_type is None:
        args.option__mime_type = named
    elif args.option__mime_type != named:
        raise CliError(
            f"-o {args.output} names an {named} file but --mime-type asks for "
            f"{args.option__mime_type}; choose a matching name or type",
            EXIT_USAGE,
        )


def save(
    result: ImageGenerationModelResult, output: str | None, operation_id: str, out: Output
) -> str:
    from .._runtime.errors import InvalidArgumentError

    if output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(result.image_bytes)
        sys.stdout.buffer.flush()
        return "-"
    target = output or f"{operation_id}.{extension(result.mime_type)}"
    try:
        try:
            return str(result.save(target))  # adds the image's suffix when there is none
        except InvalidArgumentError:
            # The image exists (and was paid for): keep the name asked for, and say so.
            out.info(
                f"warning: {target} names another type than the image's "
                f"({result.mime_type}); written anyway"
            )
            return str(result.save(target, force=True))
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}", EXIT_FAILURE) from None
