"""The SDK's loggers: one tree under ``yandex_art`` (see the README), silent unless
asked; ``YANDEX_ART_LOG=debug|info`` turns it on to stderr. Never a secret, image or prompt."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

__all__ = ["configure_from_env", "get"]

ROOT = "yandex_art"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_handler: logging.Handler | None = None

logging.getLogger(ROOT).addHandler(logging.NullHandler())


def get(name: str) -> logging.Logger:
    """The logger ``yandex_art.<name>``."""
    return logging.getLogger(f"{ROOT}.{name}")


def configure_from_env(env: Mapping[str, str] = os.environ) -> None:
    """Honour ``YANDEX_ART_LOG`` (debug|info|warning): one stderr handler on the tree."""
    global _handler
    level = _LEVELS.get(env.get("YANDEX_ART_LOG", "").strip().lower())
    if level is None:
        return
    root = logging.getLogger(ROOT)
    root.setLevel(level)
    if _handler is None:
        _handler = logging.StreamHandler()
        _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(_handler)
