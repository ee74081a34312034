"""Errors as JSON `{"error": message}` with the status each failure carries, as the reference
CRN answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from alephnet.crn.supervisor.errors import SupervisorError
from alephnet.protocol.crn_auth import CrnAuthError


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SupervisorError)
    async def supervisor_error(_request: Request, error: SupervisorError) -> JSONResponse:
        return JSONResponse({"error": error.message}, error.status)

    @app.exception_handler(CrnAuthError)
    async def auth_error(_request: Request, error: CrnAuthError) -> JSONResponse:
        return JSONResponse({"error": error.reason}, error.status)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": error.detail}, error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "invalid request", "details": error.errors()}, 422)
