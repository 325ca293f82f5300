"""``python -m yandex_art``: the ``yandex-art`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
