"""STORE: a message pins a file (by sha256 or IPFS CID) to its owner's account.

Files are versioned through tags. A STORE without `ref` starts a tag named after its own item
hash; a STORE whose `ref` is an item hash updates the tag of that original STORE; a STORE whose
`ref` is free text updates the tag `<owner>/<ref>`, so free-text names are per owner. A tag
points at the file of its newest STORE (by content time), which is what VM volumes with
`use_latest` resolve, and only the tag's owner may add versions to it.

The file must be on this node before the message is processed: a STORE whose file is missing
is retried (FILE_UNAVAILABLE), so a file may be uploaded after its message. The size recorded
is the size of the bytes stored, never `content.size`: that field is only the client's claim,
and the reference node ignores it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors import files
from alephnet.ccn.db.models import FileTagRow, MessageRow
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import same_address
from alephnet.ccn.storage.sources import FileSource, LocalFile
from alephnet.protocol.content import StoreContent
from alephnet.protocol.errors import (
    FileUnavailable,
    InvalidFormat,
    PermissionDenied,
    StoreRefNotFound,
    StoreUpdateUpdate,
)
from alephnet.protocol.item_hash import item_type_from_hash

MAX_REF_LENGTH = 256
MAX_TAG_LENGTH = 512


def is_item_hash(text: str) -> bool:
    try:
        item_type_from_hash(text)
    except ValueError:
        return False
    return True


def file_tag(owner: str, ref: str | None, item_hash: str) -> str:
    """The tag a STORE message updates (see the module docstring)."""
    if ref is None:
        return item_hash
    if is_item_hash(ref):
        return ref
    return f"{owner}/{ref}"


def _tag_of(incoming: IncomingMessage[StoreContent]) -> str:
    return file_tag(incoming.owner, incoming.content.ref, incoming.item_hash)


class StoreHandler(ContentHandler):
    checks_files = True

    def __init__(
        self,
        file_source: FileSource,
        grace_period: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`grace_period`: seconds a file outlives its last STORE, for a re-upload or a late
        message to claim it before the garbage collector deletes it."""
        self._file_source = file_source
        self._grace_period = grace_period
        self._clock = clock

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[StoreContent]
    ) -> None:
        content = incoming.content
        _check_format(incoming)
        await self._local_file(content)
        if content.ref is not None and is_item_hash(content.ref):
            await _check_ref_target(session, content.ref)

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[StoreContent]
    ) -> None:
        """Writing for the address, then adding a version to a tag only its owner may extend."""
        await super().check_permissions(session, incoming)
        tag = await files.get_tag(session, _tag_of(incoming))
        if tag is not None and not same_address(tag.owner, incoming.owner):
            raise PermissionDenied(
                f"the file tag {tag.tag} belongs to {tag.owner}: {incoming.owner} may not update it"
            )

    def denormalised_columns(self, incoming: IncomingMessage[StoreContent]) -> dict[str, Any]:
        content = incoming.content
        return {
            "content_item_hash": content.item_hash,
            "content_ref": content.ref,
        }

    async def process(self, session: AsyncSession, incoming: IncomingMessage[StoreContent]) -> None:
        content = incoming.content
        local = await self._local_file(content)
        await files.insert_file(session, content.item_hash, local.sha256, local.size)
        tag = _tag_of(incoming)
        await files.add_message_pin(
            session,
            file_hash=content.item_hash,
            owner=incoming.owner,
            item_hash=incoming.item_hash,
            ref=content.ref,
            tag=tag,
            created=content.time,
        )
        await _point_tag_at(session, tag, incoming)

    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        """Release the message's pin; the file gets a grace period when no other pin holds it."""
        pin = await files.delete_message_pin(session, message.item_hash)
        if pin is None:
            return
        if pin.tag is not None:
            await _refresh_tag(session, pin.tag)
        if await files.count_pins(session, pin.file_hash) == 0:
            now = self._clock()
            await files.add_grace_pin(session, pin.file_hash, now, now + self._grace_period)

    async def _local_file(self, content: StoreContent) -> LocalFile:
        """The STORE's file, once it is on this node."""
        local = await self._file_source.obtain(content.item_hash)
        if local is None:
            raise FileUnavailable(f"file {content.item_hash} is not available on this node yet")
        return local


def _check_format(incoming: IncomingMessage[StoreContent]) -> None:
    """What the content model cannot check alone: the file hash belongs to the declared engine,
    and the ref and the tag fit their columns."""
    content = incoming.content
    if item_type_from_hash(content.item_hash) != content.item_type:
        raise InvalidFormat(
            f"file hash {content.item_hash} is not a hash of the '{content.item_type}' engine"
        )
    if content.ref is not None and len(content.ref) > MAX_REF_LENGTH:
        raise InvalidFormat(f"ref is longer than {MAX_REF_LENGTH} characters")
    if len(_tag_of(incoming)) > MAX_TAG_LENGTH:
        raise InvalidFormat(f"the file tag (owner/ref) is longer than {MAX_TAG_LENGTH} characters")


async def _check_ref_target(session: AsyncSession, ref: str) -> None:
    """A hash `ref` names the original STORE of a tag: it must be known, and an original."""
    target = await files.get_message_pin(session, ref)
    if target is None:
        raise StoreRefNotFound(f"the STORE message {ref} that ref names is not known yet")
    if target.ref is not None:
        raise StoreUpdateUpdate(
            f"{ref} updates another file itself: reference the original STORE {target.ref}"
        )


async def _point_tag_at(
    session: AsyncSession, tag: str, incoming: IncomingMessage[StoreContent]
) -> None:
    """Create the tag, or move it to this file if this STORE is its newest version.

    Flushed at once: a later STORE of the same batch must see the tag as it now is."""
    content = incoming.content
    row = await files.get_tag(session, tag)
    if row is None:
        session.add(
            FileTagRow(
                tag=tag,
                owner=incoming.owner,
                file_hash=content.item_hash,
                item_hash=incoming.item_hash,
                last_updated=content.time,
            )
        )
    elif (content.time, incoming.item_hash) > (row.last_updated, row.item_hash):
        row.file_hash = content.item_hash
        row.item_hash = incoming.item_hash
        row.last_updated = content.time
    await session.flush()


async def _refresh_tag(session: AsyncSession, tag: str) -> None:
    """After a forget: the tag follows its newest remaining version, or goes with the last."""
    latest = await files.latest_pin_of_tag(session, tag)
    if latest is None:
        await files.delete_tag(session, tag)
        return
    row = await files.get_tag(session, tag)
    assert row is not None, "a tag exists as long as one of its STORE pins does"
    assert latest.item_hash is not None, "a STORE pin names its message"
    row.file_hash = latest.file_hash
    row.item_hash = latest.item_hash
    row.last_updated = latest.created
