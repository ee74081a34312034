"""How errors look on the wire: JSON with an `error` text that names the problem."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from alephnet.ccn.storage import (
    FileNotFound,
    FileTooLarge,
    HashMismatch,
    InvalidHash,
    RangeNotSatisfiable,
    StorageError,
)
from alephnet.protocol.errors import MessageError


def error_body(text: str, **extra: Any) -> dict[str, Any]:
    return {"error": text, **extra}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MessageError, _message_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StorageError, _storage_error)


async def _message_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, MessageError)
    return JSONResponse(
        error_body(str(error), error_code=int(error.error_code), details=error.details),
        status_code=422,
    )


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in error.errors()
    ]
    return JSONResponse(
        error_body("invalid request: " + "; ".join(problems), details=_jsonable(error.errors())),
        status_code=422,
    )


_STORAGE_ERROR_STATUS: dict[type[StorageError], int] = {
    InvalidHash: 400,
    FileNotFound: 404,
    FileTooLarge: 413,
    HashMismatch: 422,
    RangeNotSatisfiable: 416,
}


async def _storage_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StorageError)
    status_code = next(
        (code for kind, code in _STORAGE_ERROR_STATUS.items() if isinstance(error, kind)), 500
    )
    headers = (
        {"content-range": f"bytes */{error.size}"}
        if isinstance(error, RangeNotSatisfiable)
        else None
    )
    return JSONResponse(error_body(str(error)), status_code=status_code, headers=headers)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    """Keeps the error's headers: a 405 must list the allowed methods in `Allow` (RFC 9110)."""
    assert isinstance(error, HTTPException)
    return JSONResponse(
        error_body(str(error.detail)), status_code=error.status_code, headers=error.headers
    )


def _jsonable(errors: Any) -> list[dict[str, Any]]:
    return [
        {"loc": list(item.get("loc", [])), "msg": str(item.get("msg")), "type": item.get("type")}
        for item in errors
    ]
