"""``python -m yandex_art``: the ``yandex-art`` command."""

from . import cli

if __name__ == "__main__":
    raise SystemExit(cli.main())
