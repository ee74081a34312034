"""The node's tables. Times are epoch floats (the wire format's own), portable across SQLite
and PostgreSQL and cheap to compare.

Denormalised columns on `messages` (owner, content_type, content_ref, content_key,
content_item_hash, payment_type) exist so that the API filters are index lookups.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JsonColumn = JSON().with_variant(JSONB(), "postgresql")
HASH = String(128)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JsonColumn,
        list[Any]: JsonColumn,
        Any: JsonColumn,
    }


class MessageRow(Base):
    """A processed (or removing) message with its parsed content."""

    __tablename__ = "messages"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    item_type: Mapped[str] = mapped_column(String(16))
    item_content: Mapped[str | None] = mapped_column(Text)
    content: Mapped[Any] = mapped_column(JsonColumn)
    time: Mapped[float] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    content_ref: Mapped[str | None] = mapped_column(Text)
    content_key: Mapped[str | None] = mapped_column(Text)
    content_item_hash: Mapped[str | None] = mapped_column(HASH)
    payment_type: Mapped[str | None] = mapped_column(String(16))
    tags: Mapped[list[Any] | None] = mapped_column(JsonColumn)
    confirmations: Mapped[list[Any]] = mapped_column(JsonColumn, default=list)
    reception_time: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        Index("ix_messages_time_hash", "time", "item_hash"),
        Index("ix_messages_sender_type_time", "sender", "type", "time"),
        Index("ix_messages_owner_type_time", "owner", "type", "time"),
        Index("ix_messages_type_time", "type", "time"),
        Index("ix_messages_channel", "channel"),
        Index("ix_messages_content_ref", "content_ref"),
        Index("ix_messages_content_key", "content_key"),
        Index("ix_messages_content_item_hash", "content_item_hash"),
        Index("ix_messages_content_type", "content_type"),
    )


class MessageStatusRow(Base):
    """The status of every hash the node has heard of, whatever became of it."""

    __tablename__ = "message_status"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reception_time: Mapped[float] = mapped_column(Float, index=True)


class PendingMessageRow(Base):
    """A received message waiting to be processed: the durable queue of the pipeline."""

    __tablename__ = "pending_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_hash: Mapped[str] = mapped_column(HASH)
    sender: Mapped[str] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    message: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    origin: Mapped[str] = mapped_column(String(16))
    reception_time: Mapped[float] = mapped_column(Float)
    next_attempt: Mapped[float] = mapped_column(Float)
    retries: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # Led by the hash, it also serves every look-up by hash (one index to write, not two).
        Index("ux_pending_identity", "item_hash", "sender", "signature", unique=True),
        Index("ix_pending_next_attempt", "next_attempt", "id"),
    )


class RejectedMessageRow(Base):
    __tablename__ = "rejected_messages"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    message: Mapped[Any] = mapped_column(JsonColumn)
    error_code: Mapped[int] = mapped_column(Integer)
    details: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text)


class ForgottenMessageRow(Base):
    """What remains of a forgotten message: who owned it and who forgot it, no content."""

    __tablename__ = "forgotten_messages"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    item_type: Mapped[str] = mapped_column(String(16))
    time: Mapped[float] = mapped_column(Float)
    channel: Mapped[str | None] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(Text)
    payment_type: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigInteger)
    forgotten_by: Mapped[list[Any]] = mapped_column(JsonColumn)
    forgotten_at: Mapped[float] = mapped_column(Float)


class SyncDigestSlotRow(Base):
    """The sync digest of the replicated messages whose time falls in [start, start +
    SLOT_WIDTH) (`alephnet.ccn.sync.digest`): their count and the XOR of their hashes'
    sha256, as four signed 64-bit words, most significant first (databases XOR integers, not
    blobs). Updated with each processing batch; a FORGET moves a hash between two tables of
    the replicated set and changes nothing here."""

    __tablename__ = "sync_digest_slots"

    start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash_count: Mapped[int] = mapped_column(BigInteger)
    digest_0: Mapped[int] = mapped_column(BigInteger)
    digest_1: Mapped[int] = mapped_column(BigInteger)
    digest_2: Mapped[int] = mapped_column(BigInteger)
    digest_3: Mapped[int] = mapped_column(BigInteger)


class PostRow(Base):
    """A POST; amends point at their original through `amends`, originals at their latest amend."""

    __tablename__ = "posts"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    owner: Mapped[str] = mapped_column(Text, index=True)
    type: Mapped[str] = mapped_column(Text, index=True)
    ref: Mapped[str | None] = mapped_column(Text, index=True)
    amends: Mapped[str | None] = mapped_column(Text, index=True)
    channel: Mapped[str | None] = mapped_column(String(128))
    content: Mapped[Any] = mapped_column(JsonColumn)
    time: Mapped[float] = mapped_column(Float)
    latest_amend: Mapped[str | None] = mapped_column(HASH)
    last_updated: Mapped[float] = mapped_column(Float, index=True)


class AggregateElementRow(Base):
    """One AGGREGATE message: a revision of (owner, key)."""

    __tablename__ = "aggregate_elements"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    time: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_aggregate_elements_owner_key_time", "owner", "key", "time"),)


class AggregateRow(Base):
    """The merged value of (owner, key): every element folded in content.time order."""

    __tablename__ = "aggregates"

    owner: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    content: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    created: Mapped[float] = mapped_column(Float, index=True)
    last_updated: Mapped[float] = mapped_column(Float, index=True)
    first_revision_hash: Mapped[str] = mapped_column(HASH)
    last_revision_hash: Mapped[str] = mapped_column(HASH)


class StoredFileRow(Base):
    """A file present in the local store."""

    __tablename__ = "files"

    hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(8), default="file")


class FilePinRow(Base):
    """Why a file is kept: a STORE message, a message's own content, or a grace period."""

    __tablename__ = "file_pins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_hash: Mapped[str] = mapped_column(HASH, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(Text, index=True)
    item_hash: Mapped[str | None] = mapped_column(HASH, index=True)
    ref: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(Text, index=True)
    """The file tag a STORE pin updates (see `handlers/store.py`); None for other kinds."""
    created: Mapped[float] = mapped_column(Float)
    delete_by: Mapped[float | None] = mapped_column(Float, index=True)


class FileTagRow(Base):
    """A mutable name (a STORE's ref, or its own hash) pointing at the latest file version."""

    __tablename__ = "file_tags"

    tag: Mapped[str] = mapped_column(Text, primary_key=True)
    owner: Mapped[str] = mapped_column(Text)
    file_hash: Mapped[str] = mapped_column(HASH)
    item_hash: Mapped[str] = mapped_column(HASH)
    last_updated: Mapped[float] = mapped_column(Float)


class VmRow(Base):
    """A PROGRAM or INSTANCE, and which version currently replaces it."""

    __tablename__ = "vms"

    item_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    owner: Mapped[str] = mapped_column(Text, index=True)
    type: Mapped[str] = mapped_column(String(16))
    allow_amend: Mapped[bool] = mapped_column(Boolean)
    replaces: Mapped[str | None] = mapped_column(HASH, index=True)
    current_version: Mapped[str] = mapped_column(HASH)
    content: Mapped[Any] = mapped_column(JsonColumn)
    time: Mapped[float] = mapped_column(Float)


class BalanceRow(Base):
    """Known token balances per address and chain (filled by the payments service)."""

    __tablename__ = "balances"

    address: Mapped[str] = mapped_column(Text, primary_key=True)
    chain: Mapped[str] = mapped_column(String(16), primary_key=True)
    balance: Mapped[float] = mapped_column(Float)
