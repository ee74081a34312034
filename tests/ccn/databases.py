"""Which database the CCN tests run on: SQLite in the test's folder, or a fresh PostgreSQL
database on the server named by `ALEPHNET_TEST_DATABASE_URL`."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

SERVER_URL_VARIABLE = "ALEPHNET_TEST_DATABASE_URL"


@asynccontextmanager
async def fresh_database_url(folder: Path) -> AsyncIterator[str]:
    server_url = os.environ.get(SERVER_URL_VARIABLE)
    if not server_url:
        yield f"sqlite+aiosqlite:///{folder / 'ccn.sqlite3'}"
        return
    name = f"alephnet_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
