"""Checks that every request passes before its route's own validation (app-wide dependencies)."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.requests import HTTPConnection

NUL = "\x00"


async def refuse_nul_characters(connection: HTTPConnection) -> None:
    """Refuse path and query parameters holding a NUL character, as an invalid request.

    Async although it never awaits: a plain `def` dependency would cost every request a hop
    through FastAPI's thread pool.

    PostgreSQL cannot hold or compare text with a NUL in it: such a parameter would fail in the
    database with a server error, where SQLite answers "nothing found". No value the node
    stores may contain one, so the parameter can only be a mistake, refused on every backend.
    """
    problems = [
        _problem(part, name, value)
        for part, parameters in (
            ("path", connection.path_params.items()),
            ("query", connection.query_params.multi_items()),
        )
        for name, value in parameters
        if NUL in str(value)
    ]
    if not problems:
        return
    if connection.scope["type"] == "websocket":
        raise WebSocketRequestValidationError(problems)
    raise RequestValidationError(problems)


def _problem(part: str, name: str, value: Any) -> dict[str, Any]:
    return {
        "type": "string_nul",
        "loc": (part, name),
        "msg": "NUL characters (\\u0000) are refused",
        "input": value,
    }
