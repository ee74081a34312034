"""The few QMP commands the executor needs: `quit`, and pausing, saving and resuming a VM.

QMP is QEMU's JSON control protocol on a unix socket: a greeting, `qmp_capabilities`, then
commands, one JSON object per line each way, with asynchronous events in between.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

QMP_TIMEOUT = 5.0


class QmpError(Exception):
    """QEMU refused a command, or could not be reached."""


async def qmp_execute(socket: Path, *commands: tuple[str, dict[str, Any]]) -> list[Any]:
    """Run `commands` in order on one connection; their `return` values."""
    try:
        return await asyncio.wait_for(_execute(socket, commands), QMP_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        raise QmpError(f"QMP on {socket}: {error!r}") from error


async def qmp_quit(socket: Path) -> bool:
    """True if QEMU acknowledged `quit`; False if it could not be reached or did not answer."""
    try:
        await qmp_execute(socket, ("quit", {}))
    except QmpError:
        return False
    return True


async def _execute(socket: Path, commands: tuple[tuple[str, dict[str, Any]], ...]) -> list[Any]:
    reader, writer = await asyncio.open_unix_connection(str(socket))
    try:
        await reader.readline()  # the greeting
        answers = []
        for name, arguments in (("qmp_capabilities", {}), *commands):
            writer.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
            await writer.drain()
            answers.append(await _answer(reader, name))
        return answers[1:]
    finally:
        writer.close()


async def _answer(reader: asyncio.StreamReader, command: str) -> Any:
    """Skip asynchronous events (QEMU may announce its shutdown first) up to the answer."""
    while line := await reader.readline():
        message = json.loads(line)
        if "error" in message:
            raise QmpError(f"{command}: {message['error'].get('desc', message['error'])}")
        if "return" in message:
            return message["return"]
    raise QmpError(f"{command}: QEMU closed the connection")
