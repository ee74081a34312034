"""Reading the node's answers: status codes to typed errors, bodies to typed models."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from alephnet.sdk.exceptions import (
    InsufficientBalance,
    InvalidResponse,
    MessageRejected,
    NotAuthorized,
    NotFound,
    ResponseError,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

BALANCE_INSUFFICIENT = 5


def json_body(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; a 404 is `NotFound`, a 401/403 `NotAuthorized`,
    any other failure a `ResponseError` carrying the node's own `error` text."""
    if response.status_code == 404:
        raise NotFound(f"{response.request.url}: {_error_text(response)}")
    if response.status_code in (401, 403):
        raise NotAuthorized(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {_error_text(response)}",
            response.status_code,
        )
    if response.status_code >= 400:
        raise ResponseError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {_error_text(response)}",
            response.status_code,
        )
    try:
        return response.json()
    except ValueError as error:
        raise InvalidResponse(
            f"{response.request.url} answered with a body that is not JSON", response.status_code
        ) from error


def parse(model: type[ModelT], body: Any, where: str) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        raise InvalidResponse(f"unexpected answer from {where}: {error}") from error


def rejection(item_hash: str | None, response: httpx.Response) -> MessageRejected:
    """The typed error of a 422 answer to a submitted message; code 5 names the amounts."""
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    if not isinstance(body, dict):
        body = {"error": body}
    error_code = body.get("error_code")
    details = body.get("details", body.get("error"))
    if error_code == BALANCE_INSUFFICIENT:
        required, available = _amounts(details)
        return InsufficientBalance(item_hash, details, required, available)
    return MessageRejected(item_hash, error_code if isinstance(error_code, int) else None, details)


def _amounts(details: Any) -> tuple[float | None, float | None]:
    """`details.errors[0]` holds `required_balance` and `account_balance` (pyaleph's shape)."""
    try:
        first = details["errors"][0]
        return float(first["required_balance"]), float(first["account_balance"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None, None


def check_status(response: httpx.Response) -> None:
    """`json_body`'s errors, for answers whose body is not JSON (a CRN's plain-text replies)."""
    if response.status_code >= 400:
        json_body(response)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    for key in ("error", "detail"):  # the Aleph API's key, then FastAPI's
        if isinstance(body, dict) and key in body:
            return str(body[key])
    return str(body)[:500]


async def check_streamed(response: httpx.Response) -> None:
    """`json_body`'s errors for a streamed answer (its body is read first: it is small)."""
    if response.status_code >= 400:
        try:
            await response.aread()
        finally:
            await response.aclose()
        json_body(response)
