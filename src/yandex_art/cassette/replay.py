"""``cassette replay``: answer every call from recorded interactions, over gRPC and REST.

A request no recording matches is answered at once with ``FAILED_PRECONDITION``
(HTTP 400) naming the closest recorded request and the fields that differ:
a client under test fails with the reason instead of hanging.
"""

from __future__ import annotations

from pathlib import Path

from grpclib.const import Status

from .format import Cassette, load
from .matcher import Matcher, NoMatch
from .serving import Call, Reply

__all__ = ["Replayer"]


class Replayer:
    """The replay backend over one or more cassettes."""

    def __init__(self, cassettes: list[Cassette]) -> None:
        self.cassettes = cassettes
        self.matcher = Matcher(cassettes)

    @classmethod
    def from_files(cls, paths: list[str | Path]) -> Replayer:
        return cls([load(path) for path in paths])

    async def call(self, call: Call) -> Reply:
        try:
            interaction = self.matcher.answer(call.method, call.request.type, call.request.message)
        except NoMatch as exc:
            return Reply(code=Status.FAILED_PRECONDITION.value, details=f"cassette: {exc}")
        return Reply(
            code=interaction.code,
            details=interaction.details,
            response=interaction.response,
            http_status=interaction.http_status if call.transport == "rest" else None,
            headers=dict(interaction.response_headers),
        )

    async def aclose(self) -> None:
        """Nothing to let go of: the recordings are in memory."""

    def misses(self) -> list[str]:
        return list(self.matcher.misses)

    def unused(self) -> list[str]:
        return self.matcher.unused()
