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
    """Import betterproto2 (once) without pydantic and without importlib.metadata."""
    if _PACKAGE in sys.modules:
        return
    version = distribution_version(_PACKAGE)
    hide_pydantic = "pydantic" not in sys.modules
    patch_metadata = version is not None and "importlib.metadata" not in sys.modules
    if hide_pydantic:
        sys.modules["pydantic"] = None  # type: ignore[assignment]  # makes "import pydantic" fail
    fake = _version_only_metadata(_PACKAGE, version or "")
    if patch_metadata:
        sys.modules["importlib.metadata"] = fake
    try:
        import betterproto2  # noqa: F401
    finally:
        if sys.modules.get("importlib.metadata") is fake:
            del sys.modules["importlib.metadata"]
        importlib = sys.modules["importlib"]
        if getattr(importlib, "metadata", None) is fake:
            delattr(importlib, "metadata")
        if hide_pydantic and sys.modules.get("pydantic", 0) is None:
            del sys.modules["pydantic"]


def _version_only_metadata(package: str, version: str) -> types.ModuleType:
    """A stand-in for :mod:`importlib.metadata` that answers ``version(package)`` only."""
    module = types.ModuleType("importlib.metadata")

    def version_of(name: str) -> str:
        if name == package:
            return version
        # Anything else: the real module (imported on demand, outside the patch).
        sys.modules.pop("importlib.metadata", None)
        import importlib.metadata as real

        return real.version(name)

    module.version = version_of  # type: ignore[attr-defined]
    return module
