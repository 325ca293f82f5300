"""How a command reaches the service: the real one (credentials, folder, endpoint) or an
embedded emulator, and the check that the ``[emulator]`` extra is installed."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import EXIT_USAGE, CliError
from .output import Output

if TYPE_CHECKING:
    from .._client import AsyncAIStudio

__all__ = ["connect", "connection_kwargs", "emulator_module"]

# Short: an embedded emulator stands in for the service to try a command, not to wait.
_EMULATOR_GENERATION_SECONDS = 0.3
_NO_CREDENTIALS = """\
no credentials found (tried YC_API_KEY, YC_IAM_TOKEN, YC_OAUTH_TOKEN, YC_TOKEN,
the cloud metadata service and the yc CLI). Set one of these environment variables:
  export YC_API_KEY=<API key>            # a service account's API key
  export YC_IAM_TOKEN=<IAM token>        # e.g. from `yc iam create-token`
  export YC_OAUTH_TOKEN=<OAuth token>    # exchanged for IAM tokens automatically
or run it on a Yandex Cloud VM / Function with a service account, or with `yc` logged in;
and the folder to bill:
  export YC_FOLDER_ID=<folder id>        # or pass --folder-id
To try the command offline, add --emulator (a local emulator draws placeholder images)."""
_NO_FOLDER = """\
no folder id: pass --folder-id or set it once with
  export YC_FOLDER_ID=<folder id>
(add --emulator to try the command offline)."""


def emulator_module() -> Any:
    """``yandex_art.emulator``, or a configuration error naming the extra it needs."""
    from .. import emulator

    if (missing := emulator.missing_extra()) is not None:
        raise CliError(
            f"the emulator needs the [emulator] extra (module {missing!r} is missing): "
            "pip install 'yandex-art-sdk[emulator]'",
            EXIT_USAGE,
            details={"kind": "missing_extra", "module": missing},
        )
    return emulator


@contextlib.asynccontextmanager
async def connect(
    args: argparse.Namespace, env: Mapping[str, str], out: Output, note: str
) -> AsyncIterator[AsyncAIStudio]:
    """The client a command runs with: the real service, or an embedded emulator
    (``--emulator``, or ``--auto-emulator`` without a folder and credentials).
    Credentials are resolved once (a metadata-service probe is not repeated)."""
    from .._client import AsyncAIStudio

    auth = None
    if args.auto_emulator and not args.emulator:
        auth = _cloud_credentials(args, env)
        args.emulator = auth is None
    if args.emulator:
        if args.endpoint or args.insecure:
            raise CliError("--emulator cannot be combined with --endpoint/--insecure", EXIT_USAGE)
        Emulator = emulator_module().Emulator

        out.info(note)
        async with Emulator(generation_seconds=_EMULATOR_GENERATION_SECONDS) as emulator:
            async with emulator.async_sdk(args.transport) as sdk:
                yield sdk
        return
    async with AsyncAIStudio(**connection_kwargs(args, env, auth)) as sdk:
        yield sdk


def _credentials(env: Mapping[str, str]) -> Any:
    """The SDK's credential sources in their order (env, metadata service, yc), or None."""
    from .._runtime.auth import coerce_auth
    from .._runtime.errors import ConfigurationError

    try:
        return coerce_auth(None, env)
    except ConfigurationError:
        return None


def _cloud_credentials(args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    """The credentials for the real service, or None (then --auto-emulator emulates).

    Without a folder the real service cannot be used: no source is probed then.
    """
    folder = args.folder_id or env.get("YC_FOLDER_ID")
    return _credentials(env) if folder else None


def connection_kwargs(
    args: argparse.Namespace, env: Mapping[str, str], auth: Any = None
) -> dict[str, Any]:
    """The client's arguments for the real service; ``auth`` when already resolved."""
    from .._runtime.client_core import parse_endpoint
    from .._runtime.errors import ConfigurationError

    folder = args.folder_id or env.get("YC_FOLDER_ID", "").strip()
    auth = auth if auth is not None else _credentials(env)
    if auth is None:
        raise CliError(_NO_CREDENTIALS, EXIT_USAGE, details={"kind": "no_credentials"})
    if not folder:
        raise CliError(_NO_FOLDER, EXIT_USAGE, details={"kind": "no_folder"})
    kwargs: dict[str, Any] = {
        "folder_id": folder,
        "auth": auth,
        "transport": args.transport,
        "env": env,
    }
    if args.endpoint:
        try:
            endpoint = parse_endpoint(args.endpoint)
        except ConfigurationError as exc:
            raise CliError(f"--endpoint: {exc}", EXIT_USAGE) from None
        kwargs["address"] = args.endpoint  # one address for every service, no discovery
        if args.insecure and not endpoint.is_loopback:
            raise CliError(
                "--insecure is allowed only with a loopback --endpoint (127.0.0.1, ::1, "
                "localhost): elsewhere credentials would travel in plaintext",
                EXIT_USAGE,
            )
        if endpoint.is_loopback:
            kwargs["verify"] = False
    elif args.insecure:
        raise CliError("--insecure needs a loopback --endpoint", EXIT_USAGE)
    args.folder_id = folder  # the folder used, for the resume hint
    return kwargs
