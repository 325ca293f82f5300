"""The SDK's loggers: one tree under ``yandex_art`` (see the README), silent unless
asked; ``YANDEX_ART_LOG=debug|info|warning`` (or the official SDK's ``YC_LOG_LEVEL``)
turns it on to stderr. Never a secret, image or prompt."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["configure_from_env", "get", "setup_default_logging"]

ROOT = "yandex_art"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
# The official SDK's defaults, so setup_default_logging() prints what its users know.
DEFAULT_LOG_FORMAT = "[%(levelname)1.1s %(asctime)s %(name)s:%(lineno)d] %(message)s"
DEFAULT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_handler: logging.StreamHandler[Any] | None = None
_warned: set[tuple[str, str]] = set()

logging.getLogger(ROOT).addHandler(logging.NullHandler())


def get(name: str) -> logging.Logger:
    """The logger ``yandex_art.<name>``."""
    return logging.getLogger(f"{ROOT}.{name}")


def _level(value: int | str) -> int:
    """A logging level from a number or a name (any case; ``TRACE`` is DEBUG here)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"log_level must be an int or a level name, not {type(value).__name__}")
    if isinstance(value, int):
        return value
    name = value.strip().upper()
    name = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(name, name)
    if name.isdigit():
        return int(name)
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {value!r}; use DEBUG, INFO, WARNING or ERROR")
    return level


def setup_default_logging(
    log_level: int | str = "INFO",
    log_format: str = DEFAULT_LOG_FORMAT,
    date_format: str = DEFAULT_DATE_FORMAT,
) -> None:
    """A stderr handler on the ``yandex_art`` tree at ``log_level`` (the official SDK's
    ``setup_default_logging``); a tree that already has a real handler is left alone."""
    level, root = _level(log_level), logging.getLogger(ROOT)  # a bad level fails either way
    if any(h is not _handler and not isinstance(h, logging.NullHandler) for h in root.handlers):
        return  # configured by the application
    _install(level, log_format, date_format)


def _install(level: int, log_format: str, date_format: str | None) -> None:
    global _handler
    root = logging.getLogger(ROOT)
    root.setLevel(level)
    if _handler is not None and _handler.stream is not sys.stderr:
        root.removeHandler(_handler)  # stderr was replaced since (a test's capture, say)
        _handler = None
    if _handler is None:
        _handler = logging.StreamHandler()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    _handler.setFormatter(logging.Formatter(log_format, date_format))


def configure_from_env(env: Mapping[str, str] = os.environ) -> None:
    """Honour ``YANDEX_ART_LOG`` (debug|info|warning), else ``YC_LOG_LEVEL`` (a level name or
    number, as the official SDK reads it). A value neither understands is warned about."""
    ours = env.get("YANDEX_ART_LOG", "").strip()
    if ours:
        level = _LEVELS.get(ours.lower())
        if level is None:
            _warn_once("YANDEX_ART_LOG", ours, "debug, info or warning")
            return
        _install(level, "%(asctime)s %(levelname)s %(name)s: %(message)s", None)
        return
    official = env.get("YC_LOG_LEVEL", "").strip()
    if official:
        try:
            setup_default_logging(official)
        except (TypeError, ValueError):
            _warn_once("YC_LOG_LEVEL", official, "a level name such as DEBUG or INFO, or a number")


def _warn_once(variable: str, value: str, expected: str) -> None:
    if (variable, value) in _warned:
        return
    _warned.add((variable, value))
    warnings.warn(
        f"{variable}={value!r} is not understood and logging stays off; use {expected}",
        RuntimeWarning,
        stacklevel=4,
    )
