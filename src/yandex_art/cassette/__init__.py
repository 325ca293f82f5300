"""Cassettes: record the service's answers once, replay them anywhere, check them against the
specs.

- :class:`Recorder` forwards every call (gRPC and REST, from any client) to the
  service and keeps each interaction, credentials left out;
- :class:`Replayer` serves recorded interactions, matched by method and body;
- :func:`verify` decodes every recorded message with today's specs and reports
  what they lack (the service changed before its protos were published).

Both servers run in a :class:`CassetteServer`; the ``yandex-art cassette``
command and the pytest plugin's ``yandex_art_cassette`` fixture drive them.
The file format is ``cassette.schema.json`` beside this module. Needs the
``emulator`` extra (aiohttp, grpclib, Pillow).
"""

from __future__ import annotations

from .format import Cassette, CassetteError, Interaction, Recorded, load, save
from .recorder import Recorder
from .replay import Replayer
from .serving import CassetteServer
from .verify import Finding, verify

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteServer",
    "Finding",
    "Interaction",
    "Recorded",
    "Recorder",
    "Replayer",
    "load",
    "save",
    "verify",
]
