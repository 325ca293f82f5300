"""The SDK's loggers: one tree under ``yandex_art``, silent unless asked.

``yandex_art.rpc`` (each call and attempt), ``yandex_art.retry`` (each
retry), ``yandex_art.quota`` (reads held by the read budget),
``yandex_art.operation`` (poll decisions at DEBUG; started/finished at
INFO), ``yandex_art.auth`` (credential sources). ``YANDEX_ART_LOG=debug``
or ``info`` turns the tree on without code (to stderr). Nothing logged here
ever holds a credential, image bytes or prompt text.
"""

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
