"""POST: documents, and amends that replace a document's content (the newest amend wins)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.posts import (
    delete_amends_of,
    delete_post,
    get_post,
    newest_amend,
)
from alephnet.ccn.db.models import MessageRow, PostRow
from alephnet.ccn.db.write_buffer import defer_insert
from alephnet.ccn.handlers.base import ContentHandler
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.permissions import WriteIntent, check_write_permission, same_address
from alephnet.protocol.content import PostContent
from alephnet.protocol.content.post import AMEND
from alephnet.protocol.errors import (
    PermissionDenied,
    PostAmendAmend,
    PostAmendNoTarget,
    PostAmendTargetNotFound,
)


class PostHandler(ContentHandler):
    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[PostContent]
    ) -> None:
        if incoming.content.type == AMEND:
            await self._amend_target(session, incoming.content)

    async def check_permissions(
        self, session: AsyncSession, incoming: IncomingMessage[PostContent]
    ) -> None:
        """An amend is judged as a write to the original: same owner, the original's post type."""
        content = incoming.content
        if content.type != AMEND:
            await check_write_permission(session, self._intent(incoming, content.type))
            return
        original = await self._amend_target(session, content)
        if not same_address(content.address, original.owner):
            raise PermissionDenied(
                f"an amend's address {content.address} must be the original's owner "
                f"{original.owner}"
            )
        await check_write_permission(session, self._intent(incoming, original.type))

    def denormalised_columns(self, incoming: IncomingMessage[PostContent]) -> dict[str, Any]:
        content = incoming.content
        return {
            "content_type": content.type,
            "content_ref": content.ref_hash,
        }

    async def process(self, session: AsyncSession, incoming: IncomingMessage[PostContent]) -> None:
        content = incoming.content
        is_amend = content.type == AMEND
        defer_insert(
            session,
            PostRow,
            {
                "item_hash": incoming.item_hash,
                "owner": content.address,
                "type": content.type,
                "ref": content.ref_hash,
                "amends": content.ref_hash if is_amend else None,
                "channel": incoming.message.channel,
                "content": content.content,
                "time": content.time,
                "latest_amend": None,
                "last_updated": content.time,
            },
        )
        if is_amend:
            # The query for the newest amend writes this one first (autoflush or buffer).
            original = await self._amend_target(session, content)
            await _refresh_latest_amend(session, original)

    async def forget(self, session: AsyncSession, message: MessageRow) -> None:
        post = await get_post(session, message.item_hash)
        if post is None:
            return
        await delete_post(session, post.item_hash)
        if post.amends is None:
            await delete_amends_of(session, post.item_hash)
            return
        original = await get_post(session, post.amends)
        if original is not None:
            await session.flush()
            await _refresh_latest_amend(session, original)

    def _intent(self, incoming: IncomingMessage[PostContent], post_type: str) -> WriteIntent:
        return replace(self.write_intent(incoming), post_type=post_type)

    @staticmethod
    async def _amend_target(session: AsyncSession, content: PostContent) -> PostRow:
        target_hash = content.ref_hash
        if target_hash is None:
            raise PostAmendNoTarget("an amend needs a ref")
        original = await get_post(session, target_hash)
        if original is None:
            raise PostAmendTargetNotFound(f"the amended post {target_hash} is not known yet")
        if original.amends is not None:
            raise PostAmendAmend(f"{target_hash} is itself an amend: amend the original instead")
        return original


async def _refresh_latest_amend(session: AsyncSession, original: PostRow) -> None:
    """The amend with the newest content.time wins, whatever order amends arrive in."""
    latest = await newest_amend(session, original.item_hash)
    original.latest_amend = latest.item_hash if latest else None
    original.last_updated = latest.time if latest else original.time
