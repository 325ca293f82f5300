"""Importing betterproto2 without the parts of its import this SDK never uses.

``import betterproto2`` does two expensive things at import time that the
SDK does not need:

- it imports pydantic (and pydantic-core), when installed, to support
  messages generated as pydantic dataclasses. The SDK's messages are plain
  dataclasses, and the SDK imports pydantic only for its REST transport;
- it reads its own version through :mod:`importlib.metadata`, which pulls in
  the email parser, zipfile, csv and more.

Together that is about a fifth of the SDK's cold start (``bench/run.py``,
cold section). :func:`load_betterproto2` imports betterproto2 with pydantic
hidden and its version read from the ``betterproto2-X.Y.Z.dist-info``
directory next to the package. The generated package calls it before any
message module is imported. When the distribution directory cannot be found
(an unusual install), betterproto2 is imported the ordinary way.

The price: in a process where the SDK imported betterproto2 first, other
betterproto2 messages generated *as pydantic dataclasses* are not validated
on serialisation. Importing pydantic before the SDK avoids that.
"""

from __future__ import annotations

import _thread
import os
import sys
import types

__all__ = ["distribution_version", "load_betterproto2"]

_PACKAGE = "betterproto2"


def distribution_version(package: str) -> str | None:
    """The version in ``<package>-<version>.dist-info`` beside ``package`` on ``sys.path``."""
    prefix, suffix = f"{package}-", ".dist-info"
    for entry in sys.path:
        if not entry or not os.path.isdir(os.path.join(entry, package)):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        found = [n for n in names if n.startswith(prefix) and n.endswith(suffix)]
        if len(found) == 1:
            version = found[0][len(prefix) : -len(suffix)]
            if version and version[0].isdigit():
                return version
        return None  # the package is here, its metadata is not (or is ambiguous)
    return None


def load_betterproto2() -> None:
    """Import betterproto2 (once) without pydantic and without importlib.metadata.

    Nothing another thread could see is swapped: pydantic is hidden by a
    finder that answers only this thread, and the version stand-in is an
    attribute of :mod:`importlib` (which ``from importlib import metadata``
    reads) that forwards anything but this one version to the real module.
    """
    if _PACKAGE in sys.modules:
        return
    version = distribution_version(_PACKAGE)
    hider = _HideForThisThread(_thread.get_ident(), ("pydantic", "pydantic_core"))
    sys.meta_path.insert(0, hider)
    importlib = sys.modules["importlib"]
    fake = _version_only_metadata(_PACKAGE, version or "")
    patch_metadata = version is not None and not hasattr(importlib, "metadata")
    if patch_metadata:
        importlib.metadata = fake  # type: ignore[attr-defined]
    try:
        import betterproto2  # noqa: F401
    finally:
        sys.meta_path.remove(hider)
        if getattr(importlib, "metadata", None) is fake:
            delattr(importlib, "metadata")


class _HideForThisThread:
    """A meta path finder that makes some packages unimportable in one thread only."""

    def __init__(self, thread: int, names: tuple[str, ...]) -> None:
        self._thread = thread
        self._names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self._names and _thread.get_ident() == self._thread:
            raise ModuleNotFoundError(f"{name} is not needed by the SDK's messages", name=name)
        return None


def _version_only_metadata(package: str, version: str) -> types.ModuleType:
    """A stand-in for :mod:`importlib.metadata`: ``version(package)`` answered at once,
    everything else from the real module (imported on first need)."""
    module = types.ModuleType("importlib.metadata")

    def real() -> types.ModuleType:
        import importlib.metadata as metadata  # through sys.modules: never this stand-in

        return metadata

    def version_of(name: str) -> str:
        return version if name == package else str(real().version(name))

    def forward(name: str) -> object:
        return getattr(real(), name)

    module.version = version_of  # type: ignore[attr-defined]
    module.__getattr__ = forward  # type: ignore[method-assign]
    return module
