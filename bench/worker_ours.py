"""Benchmark worker for this SDK (``yandex_art``); runs in its environment.

    python bench/worker_ours.py {cold,lag,seq,conc,quota} --endpoint HOST:PORT [...]

Prints one JSON line of measurements (see ``_worker_common.py``).
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

from typing import Any  # noqa: E402

from _worker_common import API_KEY, FOLDER_ID, main  # noqa: E402


class Ours:
    name = "ours"

    def load(self) -> str:
        import yandex_art
        from yandex_art import AIStudio, AsyncAIStudio  # noqa: F401  (what users import)

        return yandex_art.__version__

    def sync_client(self, endpoint: str) -> Any:
        from yandex_art import AIStudio

        return AIStudio(folder_id=FOLDER_ID, auth=API_KEY, address=endpoint, verify=False)

    def close_sync(self, client: Any) -> None:
        client.close()

    def async_client(self, endpoint: str) -> Any:
        from yandex_art import AsyncAIStudio

        return AsyncAIStudio(folder_id=FOLDER_ID, auth=API_KEY, address=endpoint, verify=False)

    async def close_async(self, client: Any) -> None:
        await client.close()


if __name__ == "__main__":
    main(Ours(), STARTED)
