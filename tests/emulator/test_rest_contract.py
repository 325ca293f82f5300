"""The REST side keeps to its OpenAPI document: no 5xx, Status bodies, Operation answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yandex_art._gen.rest import models as rest_models
from yandex_art.pytest_plugin import EmulatorFactory

from .conftest import AUTH

GENERATE = "/foundationModels/v1/imageGenerationAsync"


@pytest.fixture(scope="module")
def client(yandex_art_emulator_factory: EmulatorFactory) -> Iterator[httpx.Client]:
    with yandex_art_emulator_factory(
        generation_seconds=0, read_quota=None, image_long_side=32
    ) as emulator:
        with httpx.Client(base_url=emulator.rest_url, headers=AUTH, timeout=10) as http:
            yield http


def _check_answer(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers.get("x-request-id")
    data = answer.json()
    if answer.status_code == 200:
        rest_models.Operation.model_validate(data)
    else:
        status = rest_models.Status.model_validate(data)
        assert status.code and status.message


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
int64ish = st.integers(min_value=-(2**64), max_value=2**64) | st.text(max_size=22)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.text(max_size=600) | json_values,
            "weight": st.floats(allow_nan=False) | json_values,
        },
    ),
    max_size=3,
)
requests_ = st.fixed_dictionaries(
    {},
    optional={
        "modelUri": st.sampled_from(
            ["art://b1gemulatorfolder/yandex-art/latest", "art://f/m", "", "gpt://x/y/z"]
        )
        | json_values,
        "messages": messages | json_values,
        "generationOptions": st.fixed_dictionaries(
            {},
            optional={
                "mimeType": st.sampled_from(["image/jpeg", "image/png", "image/gif", ""])
                | json_values,
                "seed": int64ish,
                "aspectRatio": st.fixed_dictionaries(
                    {}, optional={"widthRatio": int64ish, "heightRatio": int64ish}
                )
                | json_values,
            },
        )
        | json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=requests_ | json_values)
def test_generate_never_answers_5xx(client: httpx.Client, data: Any) -> None:
    answer = client.post(
        GENERATE, content=json.dumps(data), headers={"content-type": "application/json"}
    )
    _check_answer(answer)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=64))
def test_generate_survives_arbitrary_bytes(client: httpx.Client, raw: bytes) -> None:
    _check_answer(client.post(GENERATE, content=raw))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operation_id=st.text(min_size=1, max_size=40))
def test_operation_paths_never_answer_5xx(client: httpx.Client, operation_id: str) -> None:
    from urllib.parse import quote

    for suffix in ("", ":cancel"):
        answer = client.get(f"/operations/{quote(operation_id, safe='')}{suffix}")
        if answer.status_code == 404 and not answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            pytest.fail(f"404 without a Status body for {operation_id!r}")
        _check_answer(answer)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", GENERATE),
        ("PUT", GENERATE),
        ("DELETE", "/operations/abc"),
        ("POST", "/operations/abc"),
        ("PATCH", "/operations/abc:cancel"),
        ("HEAD", "/operations/abc"),
    ],
)
def test_wrong_method_is_405(client: httpx.Client, method: str, path: str) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["allow"]
    if method != "HEAD":
        assert answer.json()["code"] == 12


def test_unknown_path_is_404_with_status(client: httpx.Client) -> None:
    answer = client.get("/foundationModels/v2/whatever")
    assert answer.status_code == 404
    assert answer.json()["code"] == 5


def test_oversized_body_is_4xx(client: httpx.Client) -> None:
    answer = client.post(GENERATE, content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert 400 <= answer.status_code < 500
    assert answer.json()["code"] == 3


def test_successful_generation_is_an_operation(client: httpx.Client) -> None:
    answer = client.post(
        GENERATE,
        json={
            "modelUri": "art://b1gemulatorfolder/yandex-art/latest",
            "messages": [{"text": "a lighthouse on a cliff at dawn, watercolor", "weight": 1}],
            "generationOptions": {
                "mimeType": "image/jpeg",
                "seed": "1863",
                "aspectRatio": {"widthRatio": "2", "heightRatio": "1"},
            },
        },
    )
    _check_answer(answer)
    assert answer.json()["done"] is True  # generation_seconds=0 in this module
