"""Reading RFC 3339 / ISO 8601 timestamps the same way on every supported Python.

``datetime.fromisoformat`` reads any ISO 8601 form only from Python 3.11; on
3.10 it refuses the ``Z`` suffix and fractions of a second that are not 3 or 6
digits long, both of which the service sends (``"2026-01-02T03:04:05.123456789Z"``:
protobuf's JSON form of a Timestamp, the IAM token's ``expiresAt``). The two are
rewritten into the form every version reads, then parsed.
"""

from __future__ import annotations

import datetime
import re

__all__ = ["parse_iso_datetime"]

_ZULU = re.compile(r"[Zz]$")
_FRACTION = re.compile(r"(?<=[0-9]{2}:[0-9]{2}:[0-9]{2})\.([0-9]+)")


def _microseconds(match: re.Match[str]) -> str:
    # Python keeps microseconds: more digits are cut off (as 3.11+ does), fewer padded.
    return "." + match[1][:6].ljust(6, "0")


def parse_iso_datetime(text: str) -> datetime.datetime:
    """``datetime.fromisoformat(text)``, also for ``Z`` and any number of fraction digits.

    Raises ``ValueError`` for what is not a timestamp. The result is naive when
    ``text`` carries no offset, as with ``fromisoformat``.
    """
    return datetime.datetime.fromisoformat(_FRACTION.sub(_microseconds, _ZULU.sub("+00:00", text)))
