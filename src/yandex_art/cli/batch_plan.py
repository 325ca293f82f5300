"""What a ``yandex-art batch`` run has to do: each item of PROMPTS settled against the journal
and the output directory (done, failed before, to attach to, or to generate)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch_journal import FORMAT, Journal, is_whole_image, item_digest, set_aside
from .batch_prompts import Item
from .errors import EXIT_DISK, EXIT_USAGE, CliError
from .flags import generation_options

if TYPE_CHECKING:
    from .._runtime.batch import BatchRequest

__all__ = ["Plan", "plan_items", "requested_mime"]


@dataclass
class Plan:
    """What this run does: the requests to send, and how the rest was settled."""

    requests: list[BatchRequest] = field(default_factory=list)
    keep_old: set[str] = field(default_factory=set)  # items whose image on disk is kept
    digests: dict[str, str] = field(default_factory=dict)
    done: int = 0
    adopted: int = 0  # images found whole with no journal record: counted done
    failed_before: int = 0
    resent: int = 0


def _item_options(item: Item, defaults: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(defaults)  # the command's flags; the item's own values win
    if item.seed is not None:
        options["seed"] = item.seed
    if item.ratio is not None:
        options["width_ratio"], options["height_ratio"] = item.ratio
    return options


def _bind(journal: Journal, source: str, digests: Mapping[str, str], args: Any) -> None:
    """Tie the journal to this PROMPTS file; a journal of another one is refused."""
    header = journal.header
    theirs = header.get("prompts") if header else None
    if header is not None and theirs == source:
        return  # this file's batch
    if header is None:  # a new journal, or one written before journals named their file
        journal.write(sync=False, event="batch", format=FORMAT, prompts=source)
        for key, state in list(journal.states.items()):
            if state.digest is None and key in digests:  # it was this file's, as it is now
                journal.write(sync=False, event="bound", item=key, digest=digests[key])
        return
    changed = sum(
        1
        for key, state in journal.states.items()
        if state.digest is not None and digests.get(key) != state.digest
    )
    if changed and not args.force_new:
        raise CliError(
            f"{args.output_dir} holds the batch of another PROMPTS file ({theirs}; "
            f"{changed} of its items differ from {args.prompts}): use another -o DIR, or "
            "pass --force-new to make this file the directory's batch (the items that differ "
            "are generated again; their old images are kept as NAME~vN)",
            EXIT_USAGE,
        )
    journal.write(sync=True, event="batch", format=FORMAT, prompts=source)


def plan_items(
    journal: Journal, items: list[Item], args: Any, directory: Path, extension: str
) -> Plan:
    defaults = generation_options(args)
    plan = Plan()
    options = {item.key: _item_options(item, defaults) for item in items}
    for item in items:
        plan.digests[item.key] = item_digest(item.prompt, args.model, options[item.key])
    _bind(journal, str(Path(args.prompts).resolve()), plan.digests, args)
    for item in items:
        image = directory / f"{item.key}.{extension}"
        request = _settle(journal, plan, item, options[item.key], image, args.retry_failed)
        if request is not None:
            plan.requests.append(request)
    return plan


def _settle(
    journal: Journal,
    plan: Plan,
    item: Item,
    options: dict[str, Any],
    image: Path,
    retry_failed: bool,
) -> BatchRequest | None:
    """The request item needs, or None when it is settled (done, or failed before)."""
    from .._runtime.batch import BatchRequest

    digest, state = plan.digests[item.key], journal.states.get(item.key)
    if state is not None and state.digest is not None and state.digest != digest:
        # The line changed: its old operation is not what it asks for now. Its old image is
        # set aside first, so an image at the item's name is always of the current digest.
        try:
            set_aside(image)
        except OSError as exc:
            raise CliError(
                f"cannot keep the earlier image {image} aside: {exc.strerror or exc}", EXIT_DISK
            ) from None
        state = None
    elif state is None or state.state != "failed":
        done = state is not None and state.state == "done"
        path = image.parent / (state.path or image.name) if state and done else image
        if is_whole_image(path):
            if not done:  # never generate what exists: the journal lost it, or it was refused
                journal.write(
                    sync=False, event="done", item=item.key, path=image.name, digest=digest
                )
            plan.done += done
            plan.adopted += not done
            return None
    if state and state.state == "failed" and not retry_failed:
        plan.failed_before += 1
        return None
    attach, idempotency_key = None, str(uuid.uuid4())
    if state and state.state in ("started", "done") and state.operation_id:
        attach = state.operation_id  # re-attached: its image is fetched, not generated
    else:
        plan.keep_old.add(item.key)  # a new image: whatever is at its name is kept
        if state and state.state == "sending" and state.key:
            plan.resent += 1
            idempotency_key = state.key
    return BatchRequest(item.prompt, options, item.key, attach, idempotency_key)


def requested_mime(args: Any) -> str:
    return str(generation_options(args).get("mime_type") or "image/jpeg")
