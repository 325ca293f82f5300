"""Who may call: a well-formed ``Authorization`` header, and only the configured secrets if any."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Credentials"]

_HINT = "send 'Authorization: Api-Key <API key>' or 'Authorization: Bearer <IAM token>'"


class Credentials:
    """The API keys and IAM tokens accepted; with neither configured, any well-formed one."""

    def __init__(self, api_keys: Iterable[str] | None, iam_tokens: Iterable[str] | None) -> None:
        self._api_keys = None if api_keys is None else frozenset(api_keys)
        self._iam_tokens = None if iam_tokens is None else frozenset(iam_tokens)
        self._strict = self._api_keys is not None or self._iam_tokens is not None

    def problem(self, header: str | None) -> str | None:
        """Why ``header`` is refused (the UNAUTHENTICATED message), or None if it is accepted."""
        if not header or not header.strip():
            return f"the request has no credentials; {_HINT}"
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        kind = scheme.lower()
        if kind not in ("api-key", "bearer") or not secret or any(c.isspace() for c in secret):
            return f"malformed Authorization header; {_HINT}"
        if not self._strict:
            return None
        if kind == "api-key":
            if self._api_keys is None or secret not in self._api_keys:
                return "the API key is not valid"
        elif self._iam_tokens is None or secret not in self._iam_tokens:
            return "the IAM token is not valid or has expired"
        return None
