"""FORGET: erase earlier messages, by hash or as every revision of aggregate keys.

A forgotten message leaves a skeleton (who owned it, who forgot it, no content) and the status
`forgotten`, so that it can never come back; each type's handler undoes what it built from it.
Whoever could have created a target may forget it: the sender for his own messages, or a
delegate whose authorization in the owner's `security` aggregate covers the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.aggregates import element_hashes
from alephnet.ccn.db.accessors.files import delete_content_pin
from alephnet.ccn.db.accessors.messages import get_forgotten, get_message
from alephnet.ccn.db.accessors.posts import amend_hashes, get_post
from alephnet.ccn.db.accessors.status import get_statuses, set_status
from alephnet.ccn.db.accessors.vms import vms_mentioning
from alephnet.ccn.db.models import ForgottenMessageRow, MessageRow
from alephnet.ccn.handlers.aggregate import guard_security_key
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import WriteIntent, check_write_permission
from alephnet.protocol.content import ForgetContent
from alephnet.protocol.content.post import AMEND
from alephnet.protocol.enums import ItemType, MessageStatus, MessageType, PaymentType
from alephnet.protocol.errors import (
    ForgetForget,
    ForgetNotAllowed,
    ForgetNoTarget,
    ForgetTargetNotFound,
)

LIVE_STATUSES = (MessageStatus.PROCESSED, MessageStatus.REMOVING)
UNKNOWN_YET = (None, MessageStatus.PENDING)

Target = MessageRow | ForgottenMessageRow
RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class ForgetTargets:
    """What one FORGET erases: live messages, and already-forgotten ones it only signs."""

    live: list[MessageRow]
    forgotten: list[ForgottenMessageRow]


class ForgetHandler(ContentHandler):
    def __init__(self, handlers: Mapping[MessageType, ContentHandler]) -> None:
        """`handlers` undo what their type built; a copy is kept, the caller's map untouched."""
        self._handlers = dict(handlers)

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[ForgetContent]
    ) -> None:
        await resolve_targets(session, incoming.content)

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[ForgetContent]
    ) -> None:
        """No check on the FORGET's own address: each target is judged as if created anew."""
        targets = await resolve_targets(session, incoming.content)
        sender = incoming.message.sender
        every_target: list[Target] = [*targets.live, *targets.forgotten]
        for target in every_target:
            intent = await _creation_intent(session, sender, target)
            guard_security_key(intent)
            await check_write_permission(session, intent)
        for message in targets.live:
            if message.type == MessageType.STORE and await store_used_by_vm(
                session, message.item_hash
            ):
                raise ForgetNotAllowed(f"the file of {message.item_hash} is a VM's volume")

    async def process(
        self, session: AsyncSession, incoming: IncomingMessage[ForgetContent]
    ) -> None:
        targets = await resolve_targets(session, incoming.content)
        forgotten_at = incoming.content.time
        for message in targets.live:
            await self._forget_message(session, message, incoming.item_hash, forgotten_at)
        for skeleton in targets.forgotten:
            if incoming.item_hash not in skeleton.forgotten_by:
                skeleton.forgotten_by = [*skeleton.forgotten_by, incoming.item_hash]

    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        raise ForgetForget(f"{message.item_hash} is a FORGET, and a FORGET stays")

    async def _forget_message(
        self, session: AsyncSession, message: MessageRow, forget_hash: str, forgotten_at: float
    ) -> None:
        await self._handlers[MessageType(message.type)].forget(session, message)
        if message.item_type != ItemType.INLINE:
            await delete_content_pin(session, message.item_hash)
        session.add(_skeleton(message, forget_hash, forgotten_at))
        await session.delete(message)
        await set_status(session, message.item_hash, MessageStatus.FORGOTTEN, forgotten_at)


async def resolve_targets(session: AsyncSession, content: ForgetContent) -> ForgetTargets:
    """The messages a FORGET names, or the error that stops it: no target at all (reject), a
    target not processed yet (retry: it may still come), or a FORGET among them (reject).
    Rejected and removed targets have nothing left to forget and are passed over. An original
    post takes its amends along: they are versions of it."""
    if not content.hashes and not content.aggregates:
        raise ForgetNoTarget("a FORGET needs hashes or aggregates to forget")
    live: dict[str, MessageRow] = {}
    forgotten: dict[str, ForgottenMessageRow] = {}
    missing: list[dict[str, str]] = []
    statuses = await get_statuses(session, list(dict.fromkeys(content.hashes)))
    for item_hash in dict.fromkeys(content.hashes):
        status = statuses.get(item_hash)
        if status in UNKNOWN_YET:
            missing.append({"message": item_hash})
        elif status in LIVE_STATUSES:
            _collect(live, item_hash, await get_message(session, item_hash))
        elif status == MessageStatus.FORGOTTEN:
            _collect(forgotten, item_hash, await get_forgotten(session, item_hash))
    for key in dict.fromkeys(content.aggregates):
        hashes = await element_hashes(session, content.address, key)
        if not hashes:
            missing.append({"aggregate": key})
        await _collect_messages(session, live, hashes)
    for original in [message for message in live.values() if _is_original_post(message)]:
        await _collect_messages(session, live, await amend_hashes(session, original.item_hash))
    if missing:
        raise ForgetTargetNotFound("some targets are not known yet", {"errors": missing})
    _refuse_forgets(live.values())
    return ForgetTargets(list(live.values()), list(forgotten.values()))


def _collect(found: dict[str, RowT], item_hash: str, row: RowT | None) -> None:
    """A status without its row is a target whose row went in the meantime: nothing to do."""
    if row is not None:
        found[item_hash] = row


async def _collect_messages(
    session: AsyncSession, found: dict[str, MessageRow], item_hashes: Iterable[str]
) -> None:
    for item_hash in item_hashes:
        _collect(found, item_hash, await get_message(session, item_hash))


def _is_original_post(message: MessageRow) -> bool:
    return message.type == MessageType.POST and message.content_type != AMEND


def _refuse_forgets(messages: Iterable[MessageRow]) -> None:
    forgets = [message.item_hash for message in messages if message.type == MessageType.FORGET]
    if forgets:
        raise ForgetForget("a FORGET cannot be forgotten", {"errors": forgets})


async def _creation_intent(session: AsyncSession, sender: str, target: Target) -> WriteIntent:
    """What creating `target` would have asked of `sender`. A forgotten target has lost its
    content, so only its type, chain and channel are checked."""
    intent = WriteIntent(
        sender=sender,
        owner=target.owner,
        chain=target.chain,
        channel=target.channel,
        message_type=target.type,
    )
    if not isinstance(target, MessageRow):
        return intent
    if target.type == MessageType.POST:
        return replace(intent, post_type=await _post_type(session, target))
    if target.type == MessageType.AGGREGATE:
        return replace(intent, aggregate_key=target.content_key)
    return intent


async def _post_type(session: AsyncSession, message: MessageRow) -> str | None:
    """An amend is written under its original's post type (see `PostHandler`)."""
    if message.content_type != AMEND or message.content_ref is None:
        return message.content_type
    original = await get_post(session, message.content_ref)
    return original.type if original is not None else message.content_type


async def store_used_by_vm(session: AsyncSession, store_hash: str) -> bool:
    """Whether a PROGRAM or INSTANCE mounts the file of STORE message `store_hash`: as its code,
    runtime or data, an immutable volume, or the parent of its root or a persistent disk."""
    return any(
        store_hash in _volume_refs(vm.content) for vm in await vms_mentioning(session, store_hash)
    )


def _volume_refs(content: Any) -> set[str]:
    """Every `ref` a VM content mounts; read from the stored JSON, whatever its version."""
    volumes = _field(content, "volumes")
    volumes = volumes if isinstance(volumes, list) else []
    mounts = [
        _field(content, "code"),
        _field(content, "runtime"),
        _field(content, "data"),
        _field(_field(content, "rootfs"), "parent"),
        *volumes,
        *(_field(volume, "parent") for volume in volumes),
    ]
    return {ref for ref in (_field(mount, "ref") for mount in mounts) if isinstance(ref, str)}


def _field(document: Any, name: str) -> Any:
    return document.get(name) if isinstance(document, dict) else None


def _skeleton(message: MessageRow, forget_hash: str, forgotten_at: float) -> ForgottenMessageRow:
    """The envelope without content. A message without a payment paid by holding tokens, as
    the reference records it."""
    return ForgottenMessageRow(
        item_hash=message.item_hash,
        type=message.type,
        chain=message.chain,
        sender=message.sender,
        signature=message.signature,
        item_type=message.item_type,
        time=message.time,
        channel=message.channel,
        owner=message.owner,
        payment_type=message.payment_type or PaymentType.HOLD,
        size=message.size,
        forgotten_by=[forget_hash],
        forgotten_at=forgotten_at,
    )
