"""The processor's batch semantics: one bad message never blocks or undoes the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from alephnet.ccn.db.accessors.messages import get_rejected
from alephnet.ccn.db.accessors.posts import get_post
from alephnet.ccn.db.accessors.status import get_status
from alephnet.ccn.db.engine import SessionFactory, create_engine, create_session_factory
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.write_gate import WriteGate
from alephnet.ccn.handlers.post import PostHandler
from alephnet.ccn.payments.balances import Unmetered
from alephnet.ccn.pipeline import processor as processor_module
from alephnet.ccn.pipeline.content import ContentSource, LocalContent
from alephnet.ccn.pipeline.events import MessageEvents
from alephnet.ccn.pipeline.incoming import IncomingMessage
from alephnet.ccn.pipeline.intake import MessageIntake
from alephnet.ccn.pipeline.processor import (
    IN_PROCESS_BATCH,
    WORKER_BATCH,
    MessageProcessor,
    ProcessorSettings,
)
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.storage import FileStore
from alephnet.protocol import (
    EvmSigner,
    ItemType,
    MessageType,
    PendingMessage,
    build_message,
    parse_message,
)
from alephnet.protocol.content import PostContent
from alephnet.protocol.errors import InternalError
from tests.ccn.conftest import post_message
from tests.ccn.databases import fresh_database_url


class ExplodingPostHandler(PostHandler):
    """Fails while writing posts of type "boom": the kind of bug the fallback exists for."""

    async def process(self, session: AsyncSession, incoming: IncomingMessage[PostContent]) -> None:
        await super().process(session, incoming)
        if incoming.content.type == "boom":
            raise RuntimeError("handler bug")


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        await upgrade_to_head(engine)
        yield create_session_factory(engine)
        await engine.dispose()


class WatchedPostHandler(PostHandler):
    """Tells when it checks a message: a batch's reads, before any of its writes."""

    def __init__(self, checks_files: bool) -> None:
        self.checks_files = checks_files
        self.checking = asyncio.Event()

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[PostContent]
    ) -> None:
        self.checking.set()
        await super().check_dependencies(session, incoming)


def _processor(
    sessions: SessionFactory,
    tmp_path: Path,
    intake: MessageIntake,
    gate: WriteGate,
    content: ContentSource | None = None,
    handler: PostHandler | None = None,
) -> MessageProcessor:
    return MessageProcessor(
        sessions,
        {MessageType.POST: handler or ExplodingPostHandler()},
        MessageEvents(),
        content or LocalContent(FileStore(tmp_path / "files")),
        Unmetered(),
        intake.queued,
        gate,
        intake.has_waiting,
        ProcessorSettings(max_retries=2, retry_cap_seconds=0.0),
    )


async def _status(sessions: SessionFactory, item_hash: str) -> str | None:
    async with sessions() as session:
        row = await get_status(session, item_hash)
        return row.status if row else None


async def test_a_failing_write_is_isolated_and_retried(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    signer = EvmSigner(bytes(range(1, 33)))
    good = [post_message(signer, {"n": n}) for n in range(5)]
    bad = post_message(signer, {"n": "bad"}, post_type="boom")
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        for raw in [*good[:2], bad, *good[2:]]:
            await intake.submit(parse_message(raw), origin="test")
    finally:
        await intake.stop()
    processor = _processor(sessions, tmp_path, intake, gate)

    for _ in range(5):
        await processor.process_ready_batch()
        await asyncio.sleep(0)

    for raw in good:
        assert await _status(sessions, raw["item_hash"]) == "processed"
    assert await _status(sessions, bad["item_hash"]) == "rejected"
    assert processor.processed_total == 5
    assert processor.rejected_total == 1


async def test_intake_answers_existing_status_for_a_copy(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    signer = EvmSigner(bytes(range(1, 33)))
    raw: dict[str, Any] = post_message(signer)
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        first = await intake.submit(parse_message(raw), origin="test")
        second = await intake.submit(parse_message(raw), origin="test")
        assert first.queued
        assert not second.queued
        assert second.status == "pending"
        await _processor(sessions, tmp_path, intake, gate).process_ready_batch()
        third = await intake.submit(parse_message(raw), origin="test")
        assert third.status == "processed"
        assert not third.queued
    finally:
        await intake.stop()


async def test_one_batch_sees_its_own_rows(sessions: SessionFactory, tmp_path: Path) -> None:
    """A batch inserts its rows together at its end: reads later in the batch still see the
    rows of earlier messages (an original and its amends, a copy of a processed hash)."""
    signer = EvmSigner(bytes(range(1, 33)))
    original = post_message(signer, {"v": 0}, time=1000.0)
    amends = [
        post_message(signer, {"v": n}, post_type="amend", ref=original["item_hash"], time=t)
        for n, t in ((1, 1002.0), (2, 1001.0))
    ]
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        for raw in [original, *amends]:
            await intake.submit(parse_message(raw), origin="test")
    finally:
        await intake.stop()
    processor = _processor(sessions, tmp_path, intake, gate)

    assert await processor.process_ready_batch() == 3

    for raw in [original, *amends]:
        assert await _status(sessions, raw["item_hash"]) == "processed"
    async with sessions() as session:
        post = await get_post(session, original["item_hash"])
    assert post is not None
    assert (post.latest_amend, post.last_updated) == (amends[0]["item_hash"], 1002.0)


async def test_a_rejected_hash_sent_again_and_processed_keeps_no_rejection(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    """The intake marks a rejected hash sent again as pending: the processor, which learns
    each hash's status with its pending row, still knows there is a rejection to clear."""
    signer = EvmSigner(bytes(range(1, 33)))
    good = post_message(signer)
    forged = {**good, "signature": "0x" + "11" * 65}
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        processor = _processor(sessions, tmp_path, intake, gate)
        await intake.submit(parse_message(forged), origin="test")
        await processor.process_ready_batch()
        assert await _status(sessions, good["item_hash"]) == "rejected"
        await intake.submit(parse_message(good), origin="test")
        await processor.process_ready_batch()
    finally:
        await intake.stop()

    assert await _status(sessions, good["item_hash"]) == "processed"
    async with sessions() as session:
        assert await get_rejected(session, good["item_hash"]) is None


class HeldContent:
    """Content that arrives only when the test says so, as a slow peer would give it."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.fetching = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(self, message: PendingMessage) -> bytes:
        self.fetching.set()
        await self.release.wait()
        return self.content


async def test_a_content_fetch_does_not_hold_the_write_gate(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    """A message's content is fetched (from peers, possibly slowly) before its batch takes the
    write gate: meanwhile the intake still commits, and so acknowledges."""
    signer = EvmSigner(bytes(range(1, 33)))
    body = {"address": signer.address, "time": 1.0, "content": {"far": True}, "type": "note"}
    stored = build_message(signer, MessageType.POST, body, item_type=ItemType.STORAGE)
    content = HeldContent(stored.item_content.encode())
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        await intake.submit(parse_message(stored.message), origin="test")
        processor = _processor(sessions, tmp_path, intake, gate, content)
        batch = asyncio.create_task(processor.process_ready_batch())
        await asyncio.wait_for(content.fetching.wait(), timeout=5)
        later = post_message(signer, {"n": "later"})
        accepted = await asyncio.wait_for(intake.submit(parse_message(later), "test"), 5)
        assert accepted.queued
    finally:
        content.release.set()
        await intake.stop()
    assert await batch == 1
    assert await processor.process_ready_batch() == 1
    assert await _status(sessions, stored.message["item_hash"]) == "processed"
    assert await _status(sessions, later["item_hash"]) == "processed"


async def _queued_posts(sessions: SessionFactory, gate: WriteGate, count: int) -> list[str]:
    signer = EvmSigner(bytes(range(1, 33)))
    intake = MessageIntake(sessions, gate)
    intake.start()
    try:
        posts = [post_message(signer, {"n": n}) for n in range(count)]
        await intake.submit_many([parse_message(raw) for raw in posts], origin="test")
    finally:
        await intake.stop()
    return [raw["item_hash"] for raw in posts]


async def test_a_batch_checks_its_messages_before_it_takes_the_write_gate(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    """Only the batch's writes wait for another writer (an intake commit): its reads and
    checks go on meanwhile."""
    gate = WriteGate(exclusive=True)
    hashes = await _queued_posts(sessions, gate, 3)
    handler = WatchedPostHandler(checks_files=False)
    processor = _processor(sessions, tmp_path, MessageIntake(sessions, gate), gate, None, handler)
    async with gate.writing():
        batch = asyncio.create_task(processor.process_ready_batch())
        await asyncio.wait_for(handler.checking.wait(), timeout=5)
        await asyncio.sleep(0.05)
        assert not batch.done()
        assert {await _status(sessions, item_hash) for item_hash in hashes} == {"pending"}
    assert await asyncio.wait_for(batch, timeout=5) == 3
    assert {await _status(sessions, item_hash) for item_hash in hashes} == {"processed"}


async def test_a_batch_whose_checks_read_files_takes_the_write_gate_first(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    """Uploads and the garbage collector write files and pins under the gate: a check that
    reads them must not see a file that is gone by the time the batch writes."""
    gate = WriteGate(exclusive=True)
    await _queued_posts(sessions, gate, 2)
    handler = WatchedPostHandler(checks_files=True)
    processor = _processor(sessions, tmp_path, MessageIntake(sessions, gate), gate, None, handler)
    async with gate.writing():
        batch = asyncio.create_task(processor.process_ready_batch())
        await asyncio.sleep(0.1)
        assert not handler.checking.is_set()
    assert await asyncio.wait_for(batch, timeout=5) == 2
    assert handler.checking.is_set()


@pytest.mark.parametrize(
    ("options", "batch"),
    [
        ({}, IN_PROCESS_BATCH),
        ({"processing_process": True}, WORKER_BATCH),
        ({"processing_process": True, "processing_batch": 64}, 64),
        ({"processing_batch": 2000}, 2000),
    ],
)
def test_the_batch_size_defaults_by_where_processing_runs(
    tmp_path: Path, options: dict[str, Any], batch: int
) -> None:
    settings = CcnSettings(data_dir=tmp_path, **options)
    assert ProcessorSettings.of(settings).batch_size == batch


class OnceMissingPostHandler(PostHandler):
    """A dependency missing at a message's first check, there at its second."""

    def __init__(self) -> None:
        self.checked: set[str] = set()

    async def check_dependencies(
        self, session: AsyncSession, incoming: IncomingMessage[PostContent]
    ) -> None:
        if incoming.item_hash not in self.checked:
            self.checked.add(incoming.item_hash)
            raise InternalError("not yet")


async def test_a_postponed_message_is_retried_when_its_time_comes(
    sessions: SessionFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running processor wakes for the retries it scheduled, not only at its periodic
    look at the queue (made 60 s apart here, so that only the retry's own time can wake it)."""
    monkeypatch.setattr(processor_module, "IDLE_WAIT", 60.0)
    gate = WriteGate(exclusive=True)
    intake = MessageIntake(sessions, gate)
    handler = OnceMissingPostHandler()
    processor = _processor(sessions, tmp_path, intake, gate, handler=handler)
    raw = post_message(EvmSigner(bytes(range(1, 33))), {"n": "twice"})
    intake.start()
    processor.start()
    try:
        await intake.submit(parse_message(raw), origin="test")
        async with asyncio.timeout(20):
            while await _status(sessions, raw["item_hash"]) != "processed":
                await asyncio.sleep(0.05)
    finally:
        await processor.stop()
        await intake.stop()
    assert handler.checked == {raw["item_hash"]}
