"""Importing betterproto2 without pydantic and without importlib.metadata.

Both are imported by ``import betterproto2`` and unused by the SDK's messages
(plain dataclasses); together they were a fifth of the cold start. The price:
betterproto2 messages generated *as pydantic dataclasses* elsewhere in the
process are not validated, unless pydantic was imported before the SDK.
"""

from __future__ import annotations

import _thread
import os
import sys
import types
from dataclasses import dataclass

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

    Nothing another thread could see is swapped: pydantic is hidden by a finder
    answering only this thread; the stand-in forwards all but this one version.
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


@dataclass(frozen=True)
class _HideForThisThread:
    """A meta path finder that makes some packages unimportable in one thread only."""

    thread: int
    names: tuple[str, ...]

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names and _thread.get_ident() == self.thread:
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
