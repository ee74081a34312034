"""The one QMP command the executor needs: `quit`, to end a VM whose guest ignores HALT.

QMP is QEMU's JSON control protocol: a greeting, `qmp_capabilities`, then commands, one JSON
object per line each way.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

QMP_TIMEOUT = 2.0


async def qmp_quit(socket: Path) -> bool:
    """True if QEMU acknowledged `quit`; False if it could not be reached or did not answer."""
    try:
        return await asyncio.wait_for(_quit(socket), QMP_TIMEOUT)
    except (OSError, TimeoutError, ValueError):
        return False


async def _quit(socket: Path) -> bool:
    reader, writer = await asyncio.open_unix_connection(str(socket))
    try:
        await reader.readline()  # the greeting
        for command in ("qmp_capabilities", "quit"):
            writer.write(json.dumps({"execute": command}).encode() + b"\n")
            await writer.drain()
            if not await _answered(reader):
                return False
        return True
    finally:
        writer.close()


async def _answered(reader: asyncio.StreamReader) -> bool:
    """Skip asynchronous events (QEMU may announce its shutdown first) up to the answer."""
    while line := await reader.readline():
        message = json.loads(line)
        if "return" in message or "error" in message:
            return "return" in message
    return False
