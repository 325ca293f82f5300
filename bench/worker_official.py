"""Benchmark worker for the official SDK (``yandex-ai-studio-sdk``); runs in its own venv.

    bench/.venv-official/bin/python bench/worker_official.py {cold,lag,seq,conc,quota} ...

Prints one JSON line of measurements (see ``_worker_common.py``). The
official SDK has no way to close a client, so closing does nothing.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

from typing import Any  # noqa: E402

from _worker_common import API_KEY, FOLDER_ID, main  # noqa: E402


class Official:
    name = "official"

    def load(self) -> str:
        from importlib.metadata import version

        from yandex_ai_studio_sdk import AIStudio, AsyncAIStudio  # noqa: F401

        return version("yandex-ai-studio-sdk")

    def sync_client(self, endpoint: str) -> Any:
        from yandex_ai_studio_sdk import AIStudio

        return AIStudio(folder_id=FOLDER_ID, auth=API_KEY, endpoint=endpoint, verify=False)

    def close_sync(self, client: Any) -> None:
        pass

    def async_client(self, endpoint: str) -> Any:
        from yandex_ai_studio_sdk import AsyncAIStudio

        return AsyncAIStudio(folder_id=FOLDER_ID, auth=API_KEY, endpoint=endpoint, verify=False)

    async def close_async(self, client: Any) -> None:
        pass


if __name__ == "__main__":
    main(Official(), STARTED)
