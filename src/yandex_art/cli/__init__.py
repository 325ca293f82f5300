"""The ``yandex-art`` command: generate images, attach to operations, run batches, the
emulator and cassettes. The console script is ``yandex_art.cli:main``.

Exit codes (the README's table lists the same): 0 success; 1 unexpected failure
(e.g. the image could not be written); 2 usage or configuration error (bad
flags, no credentials, a missing ``[emulator]`` extra, requests the service
rejected as invalid, unauthenticated or unknown); 3 the operation failed or
was cancelled (batch: some items failed); 4 transport error (unreachable,
unavailable, quota); 5 the wait timed out (the operation keeps running);
6 batch paused: an image or the journal could not be written (rerun after the fix);
130 interrupted. With ``--json`` every exit but 0 also prints one JSON line with
``exit_code`` on stdout, usage errors included.

The modules, each one concern: ``main`` (the parser and the dispatch), ``output``
(lines and JSON events), ``progress`` (the one progress renderer), ``errors`` (exit codes,
errors as messages), ``flags`` (generation and connection flags), ``connection`` (the
service or an embedded emulator), ``serving`` (the stop of the serving commands); one
module per command: ``generate`` (with ``generate_image``: where the image goes),
``batch`` (with ``batch_prompts``, ``batch_plan``, ``batch_run`` and ``batch_journal``),
``emulator`` and ``cassette``.
Importing the package loads no gRPC, HTTP client or emulator: those wait for a command.
"""

from __future__ import annotations

from .errors import (
    EXIT_DISK,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OPERATION,
    EXIT_TIMEOUT,
    EXIT_TRANSPORT,
    EXIT_USAGE,
)
from .flags import add_generation_flags, generation_options

# WHY imported here, and only here: importing the submodule ``main`` sets the package's
# attribute ``main`` to the module; the function, bound right after, replaces it for good
# (a module is set on its package only when first loaded).
from .main import build_parser, main

__all__ = [
    "EXIT_DISK",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OPERATION",
    "EXIT_TIMEOUT",
    "EXIT_TRANSPORT",
    "EXIT_USAGE",
    "add_generation_flags",
    "build_parser",
    "generation_options",
    "main",
]
