"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alephnet.ccn.db.engine import create_engine
from alephnet.ccn.db.migrate import upgrade_to_head
from alephnet.ccn.db.models import Base
from tests.ccn.databases import fresh_database_url


async def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine)
            async with engine.connect() as connection:
                differences: list[Any] = await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()
    assert differences == []


async def test_migrations_run_twice_without_harm(tmp_path: Path) -> None:
    async with fresh_database_url(tmp_path) as url:
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine)
            await upgrade_to_head(engine)
        finally:
            await engine.dispose()
