"""The `files`, `file_pins` and `file_tags` tables: which files the node keeps, and why.

A file stays as long as at least one pin holds it: a STORE message ("message"), a non-inline
message's own content ("content"), or a grace period after an upload or a forget ("grace", with
`delete_by`). The garbage collector drops expired pins, then the files no pin holds any more.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.models import FilePinRow, FileTagRow, StoredFileRow
from alephnet.ccn.db.query import ordered, paginate

MESSAGE_PIN = "message"
CONTENT_PIN = "content"
GRACE_PIN = "grace"


@dataclass(frozen=True, slots=True)
class FreedFile:
    """A `files` row the garbage collector deleted: its bytes may go too, unless another name
    (a CID and a sha256 of the same bytes) still holds them."""

    hash: str
    sha256: str
    size: int


# --- files -------------------------------------------------------------------------------


async def get_file(session: AsyncSession, file_hash: str) -> StoredFileRow | None:
    return await session.get(StoredFileRow, file_hash)


async def insert_file(session: AsyncSession, file_hash: str, sha256: str, size: int) -> None:
    """Record a stored file; a file recorded already is left as it is (same hash, same bytes).

    An upsert rather than a read then an insert: two uploads of one file may commit together.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(StoredFileRow)
        .values(hash=file_hash, sha256=sha256, size=size, type="file")
        .on_conflict_do_nothing(index_elements=[StoredFileRow.hash])
    )


async def delete_unpinned_files(session: AsyncSession) -> list[FreedFile]:
    """Delete every `files` row that no pin holds, and say which."""
    unpinned = ~exists().where(FilePinRow.file_hash == StoredFileRow.hash)
    result = await session.execute(
        delete(StoredFileRow)
        .where(unpinned)
        .returning(StoredFileRow.hash, StoredFileRow.sha256, StoredFileRow.size)
    )
    return [FreedFile(file_hash, sha256, size) for file_hash, sha256, size in result]


async def sha256_in_use(session: AsyncSession, sha256s: Collection[str]) -> set[str]:
    """Which of these byte contents some `files` row still names."""
    if not sha256s:
        return set()
    result = await session.execute(
        select(StoredFileRow.sha256).where(StoredFileRow.sha256.in_(sha256s)).distinct()
    )
    return set(result.scalars())


# --- pins --------------------------------------------------------------------------------


async def add_grace_pin(session: AsyncSession, file_hash: str, now: float, until: float) -> None:
    session.add(FilePinRow(file_hash=file_hash, kind=GRACE_PIN, created=now, delete_by=until))


async def add_message_pin(
    session: AsyncSession,
    *,
    file_hash: str,
    owner: str,
    item_hash: str,
    ref: str | None,
    tag: str,
    created: float,
) -> None:
    session.add(
        FilePinRow(
            file_hash=file_hash,
            kind=MESSAGE_PIN,
            owner=owner,
            item_hash=item_hash,
            ref=ref,
            tag=tag,
            created=created,
        )
    )


async def get_message_pin(session: AsyncSession, item_hash: str) -> FilePinRow | None:
    """The pin a STORE message holds on its file."""
    result = await session.execute(
        select(FilePinRow).where(FilePinRow.item_hash == item_hash, FilePinRow.kind == MESSAGE_PIN)
    )
    return result.scalars().first()


async def delete_message_pin(session: AsyncSession, item_hash: str) -> FilePinRow | None:
    """Drop the pin of a forgotten STORE message; the deleted pin, None if it had none."""
    pin = await get_message_pin(session, item_hash)
    if pin is not None:
        await session.delete(pin)
        await session.flush()
    return pin


def content_pin(item_hash: str, owner: str, now: float) -> FilePinRow:
    """A `storage`/`ipfs` message's own content file stays as long as the message does."""
    return FilePinRow(
        file_hash=item_hash, kind=CONTENT_PIN, owner=owner, item_hash=item_hash, created=now
    )


async def delete_content_pin(session: AsyncSession, item_hash: str) -> None:
    """Release a forgotten message's content file: the collector takes it once unpinned."""
    await session.execute(
        delete(FilePinRow)
        .where(FilePinRow.kind == CONTENT_PIN, FilePinRow.item_hash == item_hash)
        .execution_options(synchronize_session=False)
    )


async def count_pins(session: AsyncSession, file_hash: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(FilePinRow).where(FilePinRow.file_hash == file_hash)
    )
    return result.scalar_one()


async def delete_expired_pins(session: AsyncSession, now: float) -> int:
    """Drop the pins whose `delete_by` has passed; how many."""
    result = await session.execute(
        delete(FilePinRow)
        .where(FilePinRow.delete_by.is_not(None), FilePinRow.delete_by <= now)
        .returning(FilePinRow.id)
    )
    return len(result.all())


# --- tags --------------------------------------------------------------------------------


async def get_tag(session: AsyncSession, tag: str) -> FileTagRow | None:
    result = await session.execute(select(FileTagRow).where(FileTagRow.tag == tag))
    return result.scalar_one_or_none()


async def latest_pin_of_tag(session: AsyncSession, tag: str) -> FilePinRow | None:
    """The STORE pin that should be the tag's current file: newest content time, then the
    greatest message hash, so that every node picks the same one whatever the arrival order."""
    result = await session.execute(
        select(FilePinRow)
        .where(FilePinRow.tag == tag, FilePinRow.kind == MESSAGE_PIN)
        .order_by(FilePinRow.created.desc(), FilePinRow.item_hash.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def delete_tag(session: AsyncSession, tag: str) -> None:
    await session.execute(delete(FileTagRow).where(FileTagRow.tag == tag))


# --- reads for the API -------------------------------------------------------------------


async def pin_with_file(
    session: AsyncSession, item_hash: str
) -> Row[FilePinRow, StoredFileRow] | None:
    """A STORE message's pin and the file it holds."""
    result = await session.execute(
        select(FilePinRow, StoredFileRow)
        .join(StoredFileRow, StoredFileRow.hash == FilePinRow.file_hash)
        .where(FilePinRow.item_hash == item_hash, FilePinRow.kind == MESSAGE_PIN)
        .limit(1)
    )
    return result.first()


async def tag_with_file(session: AsyncSession, tag: str) -> Row[FileTagRow, StoredFileRow] | None:
    """A tag and the file it currently points at."""
    result = await session.execute(
        select(FileTagRow, StoredFileRow)
        .join(StoredFileRow, StoredFileRow.hash == FileTagRow.file_hash)
        .where(FileTagRow.tag == tag)
    )
    return result.first()


async def owner_files_summary(session: AsyncSession, owner: str) -> tuple[int, int]:
    """How many files an address stores through STORE messages, and their total size."""
    result = await session.execute(
        select(func.count(), func.coalesce(func.sum(StoredFileRow.size), 0))
        .select_from(FilePinRow)
        .join(StoredFileRow, StoredFileRow.hash == FilePinRow.file_hash)
        .where(FilePinRow.owner == owner, FilePinRow.kind == MESSAGE_PIN)
    )
    count, total_size = result.one()
    return int(count), int(total_size)


async def owner_files(
    session: AsyncSession, owner: str, page: int, per_page: int, descending: bool
) -> Sequence[Row[FilePinRow, StoredFileRow]]:
    """One page of an address's STORE pins with their files, by creation time."""
    statement = (
        select(FilePinRow, StoredFileRow)
        .join(StoredFileRow, StoredFileRow.hash == FilePinRow.file_hash)
        .where(FilePinRow.owner == owner, FilePinRow.kind == MESSAGE_PIN)
        .order_by(
            ordered(FilePinRow.created, descending), ordered(FilePinRow.item_hash, descending)
        )
    )
    result = await session.execute(paginate(statement, page, per_page))
    return result.all()
