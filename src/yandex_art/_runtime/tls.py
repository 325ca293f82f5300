"""Whether an endpoint is reached over TLS, with which CAs, and where plaintext is allowed."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .endpoints import Endpoint
from .errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

Verify = bool | str | os.PathLike[str]


class Tls:
    """``verify=`` checked: True (system CAs), False (plaintext), a CA bundle's path, or None
    (the default: TLS, except towards loopback addresses, that is a local emulator)."""

    def __init__(self, verify: object, *, allow_insecure: bool) -> None:
        if not isinstance(verify, bool | str | os.PathLike | None):
            raise ConfigurationError("verify must be True, False or the path of a CA bundle")
        self._verify = verify
        self._allow_insecure = allow_insecure
        self.cafile = None if isinstance(verify, bool | None) else os.fspath(verify)
        self._context: ssl.SSLContext | None = None
        if self.cafile is not None:  # a CA bundle must be usable now, not at the first call
            try:
                self.ssl_context()
            except (OSError, ValueError) as exc:  # ssl.SSLError and a missing file are OSErrors
                raise ConfigurationError(
                    f"verify={self.cafile!r} is not a usable CA bundle ({exc})"
                ) from None

    def uses_tls(self, endpoint: Endpoint) -> bool:
        return bool(self._verify) if self._verify is not None else not endpoint.is_loopback

    def check_plaintext(self, endpoints: Iterable[Endpoint]) -> None:
        """Refuse ``verify=False`` towards a remote endpoint: credentials would travel in clear."""
        remote = sorted({str(e) for e in endpoints if not e.is_loopback})
        if self._verify is False and remote and not self._allow_insecure:
            raise ConfigurationError(
                f"verify=False sends credentials in plaintext; it is allowed only for loopback "
                f"endpoints, not {', '.join(remote)} (pass allow_insecure=True to force it)"
            )

    def base_url(self, endpoint: Endpoint) -> str:
        """``scheme://host[:port]`` for REST; the scheme's default port is left out."""
        scheme, default_port = ("https", 443) if self.uses_tls(endpoint) else ("http", 80)
        port = "" if endpoint.port == default_port else f":{endpoint.port}"
        return f"{scheme}://{endpoint.url_host}{port}"

    def ssl_context(self) -> ssl.SSLContext:
        """Made once (loading CAs costs ~30 ms) and shared by every event loop's HTTP client."""
        if self._context is None:
            import ssl  # TLS only costs its import when it is used

            self._context = ssl.create_default_context(cafile=self.cafile)
            self._context.set_alpn_protocols(["h2", "http/1.1"])
        return self._context

    def root_certificates(self) -> bytes | None:
        """The CA bundle for grpcio (None: its own roots)."""
        return None if self.cafile is None else Path(self.cafile).read_bytes()
