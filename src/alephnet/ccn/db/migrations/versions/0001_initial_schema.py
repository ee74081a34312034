"""initial schema

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregate_elements",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    with op.batch_alter_table("aggregate_elements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_aggregate_elements_owner_key_time", ["owner", "key", "time"], unique=False
        )

    op.create_table(
        "aggregates",
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("last_updated", sa.Float(), nullable=False),
        sa.Column("first_revision_hash", sa.String(length=128), nullable=False),
        sa.Column("last_revision_hash", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("owner", "key"),
    )
    with op.batch_alter_table("aggregates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_aggregates_created"), ["created"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_aggregates_last_updated"), ["last_updated"], unique=False
        )

    op.create_table(
        "balances",
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("balance", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("address", "chain"),
    )
    op.create_table(
        "file_pins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_hash", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("item_hash", sa.String(length=128), nullable=True),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("tag", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("delete_by", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_pins_delete_by"), ["delete_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_pins_file_hash"), ["file_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_pins_item_hash"), ["item_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_pins_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_pins_tag"), ["tag"], unique=False)

    op.create_table(
        "file_tags",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("file_hash", sa.String(length=128), nullable=False),
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("last_updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tag"),
    )
    op.create_table(
        "files",
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "forgotten_messages",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("item_type", sa.String(length=16), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("payment_type", sa.String(length=16), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "forgotten_by",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("forgotten_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    op.create_table(
        "message_status",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reception_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    with op.batch_alter_table("message_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_status_reception_time"), ["reception_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_message_status_status"), ["status"], unique=False)

    op.create_table(
        "messages",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("item_type", sa.String(length=16), nullable=False),
        sa.Column("item_content", sa.Text(), nullable=True),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("content_ref", sa.Text(), nullable=True),
        sa.Column("content_key", sa.Text(), nullable=True),
        sa.Column("content_item_hash", sa.String(length=128), nullable=True),
        sa.Column("payment_type", sa.String(length=16), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "confirmations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reception_time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_channel", ["channel"], unique=False)
        batch_op.create_index("ix_messages_content_item_hash", ["content_item_hash"], unique=False)
        batch_op.create_index("ix_messages_content_key", ["content_key"], unique=False)
        batch_op.create_index("ix_messages_content_ref", ["content_ref"], unique=False)
        batch_op.create_index("ix_messages_content_type", ["content_type"], unique=False)
        batch_op.create_index(
            "ix_messages_owner_type_time", ["owner", "type", "time"], unique=False
        )
        batch_op.create_index(
            "ix_messages_sender_type_time", ["sender", "type", "time"], unique=False
        )
        batch_op.create_index("ix_messages_time_hash", ["time", "item_hash"], unique=False)
        batch_op.create_index("ix_messages_type_time", ["type", "time"], unique=False)

    op.create_table(
        "pending_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column(
            "message",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("reception_time", sa.Float(), nullable=False),
        sa.Column("next_attempt", sa.Float(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pending_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pending_messages_item_hash"), ["item_hash"], unique=False
        )
        batch_op.create_index("ix_pending_next_attempt", ["next_attempt", "id"], unique=False)
        batch_op.create_index(
            "ux_pending_identity", ["sender", "item_hash", "signature"], unique=True
        )

    op.create_table(
        "posts",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        sa.Column("amends", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("latest_amend", sa.String(length=128), nullable=True),
        sa.Column("last_updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_posts_amends"), ["amends"], unique=False)
        batch_op.create_index(batch_op.f("ix_posts_last_updated"), ["last_updated"], unique=False)
        batch_op.create_index(batch_op.f("ix_posts_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_posts_ref"), ["ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_posts_type"), ["type"], unique=False)

    op.create_table(
        "rejected_messages",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "message",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    op.create_table(
        "vms",
        sa.Column("item_hash", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("allow_amend", sa.Boolean(), nullable=False),
        sa.Column("replaces", sa.String(length=128), nullable=True),
        sa.Column("current_version", sa.String(length=128), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("time", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("item_hash"),
    )
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vms_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_vms_replaces"), ["replaces"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vms_replaces"))
        batch_op.drop_index(batch_op.f("ix_vms_owner"))

    op.drop_table("vms")
    op.drop_table("rejected_messages")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_posts_type"))
        batch_op.drop_index(batch_op.f("ix_posts_ref"))
        batch_op.drop_index(batch_op.f("ix_posts_owner"))
        batch_op.drop_index(batch_op.f("ix_posts_last_updated"))
        batch_op.drop_index(batch_op.f("ix_posts_amends"))

    op.drop_table("posts")
    with op.batch_alter_table("pending_messages", schema=None) as batch_op:
        batch_op.drop_index("ux_pending_identity")
        batch_op.drop_index("ix_pending_next_attempt")
        batch_op.drop_index(batch_op.f("ix_pending_messages_item_hash"))

    op.drop_table("pending_messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_type_time")
        batch_op.drop_index("ix_messages_time_hash")
        batch_op.drop_index("ix_messages_sender_type_time")
        batch_op.drop_index("ix_messages_owner_type_time")
        batch_op.drop_index("ix_messages_content_type")
        batch_op.drop_index("ix_messages_content_ref")
        batch_op.drop_index("ix_messages_content_key")
        batch_op.drop_index("ix_messages_content_item_hash")
        batch_op.drop_index("ix_messages_channel")

    op.drop_table("messages")
    with op.batch_alter_table("message_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_status_status"))
        batch_op.drop_index(batch_op.f("ix_message_status_reception_time"))

    op.drop_table("message_status")
    op.drop_table("forgotten_messages")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_sha256"))

    op.drop_table("files")
    op.drop_table("file_tags")
    with op.batch_alter_table("file_pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_pins_tag"))
        batch_op.drop_index(batch_op.f("ix_file_pins_owner"))
        batch_op.drop_index(batch_op.f("ix_file_pins_item_hash"))
        batch_op.drop_index(batch_op.f("ix_file_pins_file_hash"))
        batch_op.drop_index(batch_op.f("ix_file_pins_delete_by"))

    op.drop_table("file_pins")
    op.drop_table("balances")
    with op.batch_alter_table("aggregates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aggregates_last_updated"))
        batch_op.drop_index(batch_op.f("ix_aggregates_created"))

    op.drop_table("aggregates")
    with op.batch_alter_table("aggregate_elements", schema=None) as batch_op:
        batch_op.drop_index("ix_aggregate_elements_owner_key_time")

    op.drop_table("aggregate_elements")
