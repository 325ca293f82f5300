"""The runtime parts that generated code parametrises: the operation message
reader, the REST ``Any`` helpers and the image result base, on plain fakes
(no generated messages), so they are tested as the runtime modules they are."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from yandex_art._runtime.errors import InvalidArgumentError
from yandex_art._runtime.operation import OperationMessageReader
from yandex_art._runtime.rest import pop_unknown_any, restore_any
from yandex_art._runtime.result import ImageResult

URL = "type.googleapis.com/test.Result"


@dataclasses.dataclass
class FakeAny:
    type_url: str = ""
    value: bytes = b""

    @classmethod
    def from_dict(cls, value: Any) -> FakeAny:
        return cls(type_url=value["@type"], value=b"known")


@dataclasses.dataclass
class FakeStatus:
    code: int
    message: str
    details: list[object]


@dataclasses.dataclass
class FakeOperation:
    id: str = "op1"
    done: bool = True
    description: str = ""
    error: FakeStatus | None = None
    response: FakeAny | None = None
    created_at: datetime.datetime | None = None
    modified_at: datetime.datetime | None = None


def _reader(answer: FakeOperation) -> OperationMessageReader[str]:
    async def get(operation_id: str, timeout: float, retry_hooks: object) -> FakeOperation:
        return answer

    return OperationMessageReader(
        call_get=get, call_cancel=get, type_url=URL, decode=lambda data: data.decode().upper()
    )


def test_reader_decodes_the_expected_type_only() -> None:
    ok = _reader(FakeOperation(response=FakeAny(URL, b"cat")))
    snap = asyncio.run(ok.get("op1", timeout=5))
    assert (snap.id, snap.done, snap.response, snap.response_type_url) == ("op1", True, "CAT", URL)
    other = "type.googleapis.com/other.Type"
    wrong = asyncio.run(_reader(FakeOperation(response=FakeAny(other, b"x"))).get("op1", timeout=5))
    assert wrong.response is None
    assert (wrong.response_type_url, wrong.expected_type_url) == (other, URL)


def test_reader_keeps_errors_and_reads_naive_timestamps_as_utc() -> None:
    naive = datetime.datetime(2024, 1, 1, 12, 0, 0)
    detail = object()  # no unpack(): kept as it came
    op = FakeOperation(error=FakeStatus(8, "quota", [detail]), created_at=naive)
    snap = _reader(op).snapshot(op)
    assert snap.error is not None
    assert (snap.error.code, snap.error.message, snap.error.details) == (8, "quota", (detail,))
    assert snap.created_at == naive.replace(tzinfo=datetime.timezone.utc).timestamp()
    assert snap.modified_at is None


def test_unknown_any_is_taken_out_and_put_back_by_type_url() -> None:
    known = {URL}
    node: dict[str, Any] = {"response": {"@type": URL, "x": 1}}
    assert pop_unknown_any(node, "response", False, FakeAny, known) == []
    assert "response" in node  # all known: left for the normal decoder

    node = {"details": [{"@type": URL}, {"@type": "type.googleapis.com/new.Detail"}]}
    values = pop_unknown_any(node, "details", True, FakeAny, known)
    assert "details" not in node
    assert values == [FakeAny(URL, b"known"), FakeAny("type.googleapis.com/new.Detail")]

    message = FakeOperation(error=FakeStatus(2, "", []))
    restore_any(message, ("error", "details"), values)
    assert message.error is not None and message.error.details == values
    restore_any(message, ("response",), values[1:])
    assert message.response == values[1]


@dataclasses.dataclass(frozen=True, repr=False)
class Picture(ImageResult):
    _image_field: ClassVar[str] = "data"
    data: bytes
    version: str


def test_image_result_sniffs_saves_and_shows(tmp_path: Path) -> None:
    png = Picture(b"\x89PNG\r\n\x1a\n" + b"0" * 8, "v1")
    assert png.mime_type == "image/png"
    assert png._repr_png_() == png.data and png._repr_jpeg_() is None
    assert repr(png) == "Picture(version='v1', data=<16 bytes, image/png>)"
    assert png.save(tmp_path / "a.png").read_bytes() == png.data
    odd = Picture(b"GIF89a", "v2")
    assert odd.mime_type is None
    assert repr(odd) == "Picture(version='v2', data=<6 bytes, unknown format>)"


def test_save_adds_the_image_suffix_and_refuses_a_contradicting_one(tmp_path: Path) -> None:
    png = Picture(b"\x89PNG\r\n\x1a\n" + b"0" * 8, "v1")
    jpeg = Picture(b"\xff\xd8\xff" + b"0" * 8, "v1")
    assert png.save(tmp_path / "a") == tmp_path / "a.png"
    assert jpeg.save(str(tmp_path / "b")) == tmp_path / "b.jpeg"
    assert (tmp_path / "a.png").read_bytes() == png.data
    assert jpeg.save(tmp_path / "c.JPG").read_bytes() == jpeg.data  # any spelling of its type
    with pytest.raises(InvalidArgumentError) as caught:
        png.save(tmp_path / "x.jpeg")
    assert isinstance(caught.value, ValueError)
    assert "image/jpeg" in str(caught.value) and "image/png" in str(caught.value)
    assert "force=True" in str(caught.value)
    assert not (tmp_path / "x.jpeg").exists()
    with pytest.raises(InvalidArgumentError, match="image/gif"):
        jpeg.save(tmp_path / "y.gif")
    assert png.save(tmp_path / "x.jpeg", force=True).read_bytes() == png.data
    assert png.save(tmp_path / "x.bin").read_bytes() == png.data  # not an image name: as given
    odd = Picture(b"GIF89a", "v2")  # unknown bytes: written as given, no suffix invented
    assert odd.save(tmp_path / "z") == tmp_path / "z"
    assert odd.save(tmp_path / "z.jpeg").read_bytes() == odd.data
