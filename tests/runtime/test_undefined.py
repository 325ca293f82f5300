import copy
import pickle

from yandex_art._runtime.undefined import UNDEFINED, Undefined, UndefinedOr, is_defined


def test_singleton_identity() -> None:
    assert Undefined() is UNDEFINED
    assert Undefined() is Undefined()


def test_falsy_and_repr() -> None:
    assert not UNDEFINED
    assert bool(UNDEFINED) is False
    assert repr(UNDEFINED) == "UNDEFINED"
    assert str(UNDEFINED) == "UNDEFINED"


def test_pickle_and_copy_keep_identity() -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(UNDEFINED, protocol=protocol)) is UNDEFINED
    assert copy.copy(UNDEFINED) is UNDEFINED
    assert copy.deepcopy(UNDEFINED) is UNDEFINED
    assert copy.deepcopy({"a": [UNDEFINED]})["a"][0] is UNDEFINED


def test_is_defined_tells_unset_from_none_and_zero() -> None:
    assert not is_defined(UNDEFINED)
    assert is_defined(None)
    assert is_defined(0)
    assert is_defined("")
    assert is_defined(False)


def test_alias_is_subscriptable() -> None:
    alias = UndefinedOr[int]
    assert int in alias.__args__
    assert Undefined in alias.__args__

    def f(seed: UndefinedOr[int] = UNDEFINED) -> int:
        return seed if is_defined(seed) else -1

    assert f() == -1
    assert f(0) == 0


def test_not_subclassable_equality_and_hash() -> None:
    assert UNDEFINED == Undefined()
    assert UNDEFINED != None  # noqa: E711
    assert hash(UNDEFINED) == hash(Undefined())
