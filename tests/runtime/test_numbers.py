"""One number check: the same bad number gets the same answer wherever it is passed.

Every entry point that takes a number (a client setting, a model method, an
operation's wait, a retry policy, a field of the request, the emulator's settings)
goes through ``validation.check_within``. Entry points differ only in their bounds
(a timeout must be above 0, a wait may be 0, infinity means "no bound" for some);
for one value and one kind of bound the answer, its type and its words, is one.
No test here reaches a server: every refusal comes before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from yandex_art import AIStudio, RetryPolicy
from yandex_art._runtime.errors import InvalidArgumentError
from yandex_art.emulator.config import EmulatorConfig
from yandex_art.emulator.faults import Faults

from ..conftest import free_port

Call = Callable[[Any], object]


@pytest.fixture(scope="module")
def sdk() -> Iterator[AIStudio]:
    # A port nothing listens on: a check that let a value through would fail in transport.
    with AIStudio(
        folder_id="b1gfolder", auth="AQVN-test", address=f"127.0.0.1:{free_port()}"
    ) as client:
        yield client


def entry_points(sdk: AIStudio) -> dict[str, tuple[str, str, Call]]:
    """Entry point -> (the name it reports, its kind of bound, a call passing the value)."""
    model = sdk.models.image_generation("yandex-art")
    operation = model.attach_deferred("fbvnumbercheckop0001")
    settings = {"folder_id": "b1gfolder", "auth": "AQVN-test", "address": "127.0.0.1:1"}
    return {
        "AIStudio(timeout=)": ("timeout", "above 0", lambda v: AIStudio(**settings, timeout=v)),
        "run_deferred(timeout=)": ("timeout", "above 0", lambda v: model.run_deferred("a", timeout=v)),
        "wait(timeout=)": ("timeout", "above 0", lambda v: operation.wait(timeout=v)),
        "get_status(timeout=)": ("timeout", "above 0", lambda v: operation.get_status(timeout=v)),
        "cancel(timeout=)": ("timeout", "above 0", lambda v: operation.cancel(timeout=v)),
        "AIStudio(max_reads_per_second=)": (
            "max_reads_per_second", "above 0, or inf",
            lambda v: AIStudio(**settings, max_reads_per_second=v),
        ),
        "wait(poll_timeout=)": ("poll_timeout", "0 or more, or inf", lambda v: operation.wait(poll_timeout=v)),
        "wait(poll_interval=)": (
            "poll_interval", "0 or more, or inf", lambda v: operation.wait(poll_interval=v, poll_timeout=0)
        ),
        "RetryPolicy(initial_backoff=)": (
            "initial_backoff", "0 or more, or inf", lambda v: RetryPolicy(initial_backoff=v)
        ),
        "a message's weight": (
            "messages[0].weight", "finite", lambda v: model.run_deferred({"text": "a", "weight": v})
        ),
        "EmulatorConfig(generation_seconds=)": (
            "generation_seconds", "0 or more", lambda v: EmulatorConfig(generation_seconds=v)
        ),
        "Faults.set_latency(seconds=)": (
            "seconds", "0 or more", lambda v: Faults().set_latency("Generate", v)
        ),
    }  # fmt: skip


def answer(call: Call, value: object, name: str) -> str | None:
    """What ``call`` said about ``value``: the words after the name (None: it passed).

    Words, not types: a setting's refusal comes in its own documented class
    (``ConfigurationError`` for the client's, ``EmulatorConfigError`` for the emulator's).
    """
    try:
        call(value)
    except (TypeError, ValueError) as exc:  # InvalidArgumentError is a ValueError
        text = str(exc)
    else:
        return None
    assert text.startswith(name), f"{text!r} does not name {name}"
    return text[len(name) :].lstrip(": ")


@pytest.mark.parametrize("value", [True, "1", b"1", [1], math.nan, -math.nan], ids=repr)
def test_a_value_that_is_no_number_gets_one_answer_everywhere(sdk: AIStudio, value: object) -> None:
    answers = {
        where: answer(call, value, name) for where, (name, _, call) in entry_points(sdk).items()
    }
    assert len(set(answers.values())) == 1, answers
    assert next(iter(answers.values())) in (
        f"must be a number, not {type(value).__name__}",
        "must be a number, got nan",
    )


OUT_OF_BOUNDS: dict[str, Callable[[float], bool]] = {
    "above 0": lambda v: not v > 0 or math.isinf(v),
    "above 0, or inf": lambda v: not v > 0,
    "0 or more": lambda v: v < 0 or math.isinf(v),
    "0 or more, or inf": lambda v: v < 0,
    "finite": math.isinf,  # a weight may be negative: it marks a negative prompt
}


@pytest.mark.parametrize("value", [-1, -0.5, -math.inf, 0, math.inf], ids=repr)
def test_a_number_out_of_bounds_gets_one_answer_per_kind_of_bound(
    sdk: AIStudio, value: float
) -> None:
    said: dict[str, set[str | None]] = {}
    for name, bound, call in entry_points(sdk).values():
        if OUT_OF_BOUNDS[bound](value):
            said.setdefault(bound, set()).add(answer(call, value, name))
    assert said and all(len(answers) == 1 for answers in said.values()), said
    assert None not in set().union(*said.values()), said
    if value == -1:
        assert said == {
            "above 0": {"must be > 0, got -1"},
            "above 0, or inf": {"must be > 0, got -1"},
            "0 or more": {"must be >= 0, got -1"},
            "0 or more, or inf": {"must be >= 0, got -1"},
        }


def test_a_type_error_for_what_is_no_number_a_value_error_for_a_bad_number(sdk: AIStudio) -> None:
    _, _, call = entry_points(sdk)["wait(timeout=)"]
    with pytest.raises(TypeError, match=r"^timeout must be a number, not str$"):
        call("1")
    with pytest.raises(InvalidArgumentError, match=r"^timeout: must be a number, got nan$"):
        call(math.nan)


@pytest.mark.parametrize(
    ("value", "words"),
    [(0, "must be > 0, got 0"), (0.0, "must be > 0, got 0"), (math.inf, "must be finite, got inf")],
)
def test_timeout_zero_or_infinite_is_refused_alike_by_the_client_a_method_and_wait(
    sdk: AIStudio, value: float, words: str
) -> None:
    points = entry_points(sdk)
    for where in (
        "AIStudio(timeout=)",
        "run_deferred(timeout=)",
        "wait(timeout=)",
        "cancel(timeout=)",
    ):
        name, _, call = points[where]
        assert answer(call, value, name) == words, where


def test_zero_and_infinity_pass_where_they_mean_no_wait_and_no_bound(sdk: AIStudio) -> None:
    points = entry_points(sdk)
    for where in ("RetryPolicy(initial_backoff=)", "EmulatorConfig(generation_seconds=)"):
        name, _, call = points[where]
        assert answer(call, 0, name) is None, where
    name, _, call = points["AIStudio(max_reads_per_second=)"]
    assert answer(call, math.inf, name) is None
    name, _, call = points["EmulatorConfig(generation_seconds=)"]
    assert answer(call, math.inf, name) == "must be finite, got inf"


def test_an_int_field_refuses_a_float_and_a_huge_int_is_not_finite() -> None:
    from yandex_art._runtime.validation import check_float, check_int

    with pytest.raises(TypeError, match=r"^seed must be an int, not float$"):
        check_int("seed", 1.0)
    with pytest.raises(
        InvalidArgumentError, match=r"^weight: must be finite, got an int too large"
    ):
        check_float("weight", 10**400)
    assert check_int("seed", 2**63 - 1, maximum=2**63 - 1) == 2**63 - 1
