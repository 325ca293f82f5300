"""One table of status codes: the emulator answers REST errors by it, the SDK reads them by it."""

from __future__ import annotations

import httpx
import pytest
from grpclib.const import Status

from yandex_art._runtime.errors import HTTP_STATUS_OF_CODE, http_error_fields
from yandex_art.emulator.errors import EmulatorError


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.OK], ids=lambda s: s.name)
def test_an_emulator_error_reads_back_as_its_own_code(status: Status) -> None:
    http = EmulatorError(status, "no").http_status
    assert http == HTTP_STATUS_OF_CODE[status.name]
    # As the emulator answers: the code in the body, which the reader takes as it is.
    _, fields = http_error_fields(
        httpx.Response(http, json={"code": status.value, "message": "no"})
    )
    assert (fields["code"], fields["http_status"]) == (status.name, http)
    # A bare status (a proxy's page): a code that a gateway would answer with that status.
    _, fields = http_error_fields(httpx.Response(http, text="<html>no</html>"))
    assert HTTP_STATUS_OF_CODE[fields["code"]] == http


@pytest.mark.parametrize(
    ("http", "code"),
    [(400, "INVALID_ARGUMENT"), (409, "ABORTED"), (500, "INTERNAL"), (502, "UNAVAILABLE"),
     (418, "FAILED_PRECONDITION"), (599, "UNKNOWN")],
)  # fmt: skip
def test_a_status_several_codes_share_reads_as_the_generic_one(http: int, code: str) -> None:
    _, fields = http_error_fields(httpx.Response(http, text="no"))
    assert fields["code"] == code
