"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from alephnet.ccn.db.accessors.sync import replicated_digests, replicated_hash_times
from alephnet.ccn.db.engine import create_engine, create_session_factory
from alephnet.ccn.db.migrate import (
    HEAD_REVISION,
    alembic_config,
    schema_revision,
    upgrade_to_head,
)
from alephnet.ccn.db.models import Base
from alephnet.ccn.settings import CcnSettings
from alephnet.ccn.sync.digest import FULL_RANGE, SLOT_WIDTH, TimeRange, digest_buckets
from alephnet.protocol import EvmSigner
from tests.ccn.conftest import post_message, publish
from tests.ccn.databases import fresh_database_url
from tests.ccn.message_builders import forget_message


async def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    """Every migration replayed by alembic, as an existing node's database gets them."""
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(
                    lambda sync: command.upgrade(alembic_config(sync), "head")
                )
            differences = await _differences_from_the_models(engine)
        finally:
            await engine.dispose()
    assert differences == []


async def test_a_new_database_is_created_at_head_as_alembic_would_leave_it(
    tmp_path: Path,
) -> None:
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine)
            differences = await _differences_from_the_models(engine)
            async with engine.begin() as connection:
                revision = await connection.run_sync(schema_revision)
                alembic_revision = await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()
    assert differences == []
    assert revision == alembic_revision == HEAD_REVISION


async def _differences_from_the_models(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )


async def test_migrations_run_twice_without_harm(tmp_path: Path) -> None:
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine)
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()


async def test_the_digest_slots_are_filled_from_the_messages_already_held(
    settings: CcnSettings, client: httpx.AsyncClient, signer: EvmSigner
) -> None:
    """Migration 0003 on a database holding messages (here: taken back to 0002, slots gone,
    then up again)."""
    now = time.time()
    posts = [post_message(signer, {"n": n}, time=now - n * 0.3 * SLOT_WIDTH) for n in range(6)]
    for message in [*posts, forget_message(signer, hashes=[posts[2]["item_hash"]])]:
        assert (await publish(client, message)).status_code == 200
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0002"))
        await upgrade_to_head(engine)
        start, end = FULL_RANGE
        async with create_session_factory(engine)() as session:
            for span in TimeRange(start, end).split(16):
                answered = await replicated_digests(session, span.start, span.end, 16)
                rows = await replicated_hash_times(session, span.start, span.end)
                assert answered == digest_buckets(rows, span.start, span.end, 16)
            whole = await replicated_digests(session, start, end, 1)
    finally:
        await engine.dispose()
    assert whole[0].count == len(posts) + 1


# Migrates the database at argv[1] and prints whether alembic got imported.
UPGRADE_AND_REPORT = (
    "import asyncio, sys\n"
    "from alephnet.ccn.db.engine import create_engine\n"
    "from alephnet.ccn.db.migrate import upgrade_to_head\n"
    "async def main():\n"
    "    engine = create_engine(sys.argv[1])\n"
    "    await upgrade_to_head(engine)\n"
    "    await engine.dispose()\n"
    "asyncio.run(main())\n"
    "print('alembic' in sys.modules)\n"
)


def test_the_head_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_a_database_at_head_is_not_migrated_again_nor_alembic_imported(
    tmp_path: Path,
) -> None:
    """A new database is created at head, and the next start finds it there: neither
    imports alembic (a database behind does: the digest slots test above)."""
    async with fresh_database_url(tmp_path) as url:
        runs = [
            subprocess.run(
                [sys.executable, "-c", UPGRADE_AND_REPORT, url],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout.split()[-1]
            for _ in range(2)
        ]
    assert runs == ["False", "False"]
