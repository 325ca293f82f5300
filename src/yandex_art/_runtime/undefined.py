"""A sentinel for "the caller did not pass this", distinct from ``None`` and from zero."""

from __future__ import annotations

from typing import ClassVar, Final, Literal, TypeAlias, TypeVar, final

from typing_extensions import TypeIs

__all__ = ["UNDEFINED", "Undefined", "UndefinedOr", "is_defined"]

T = TypeVar("T")


@final
class Undefined:
    """The type of :data:`UNDEFINED`; there is only ever one instance."""

    __slots__ = ()
    _instance: ClassVar[Undefined | None] = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __reduce__(self) -> str:
        # By reference to the module-level name: pickle and copy keep identity.
        return "UNDEFINED"


UNDEFINED: Final = Undefined()

UndefinedOr: TypeAlias = T | Undefined
"""``UndefinedOr[int]`` is ``int | Undefined``."""


def is_defined(value: T | Undefined) -> TypeIs[T]:
    """True unless ``value`` is :data:`UNDEFINED` (``None`` and ``0`` are defined)."""
    return value is not UNDEFINED
