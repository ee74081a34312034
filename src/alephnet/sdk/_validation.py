"""Content the SDK builds from the caller's arguments is checked by the protocol's pydantic
models; their errors are reported as `InvalidContent`, naming each field and problem."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from alephnet.sdk.exceptions import InvalidContent


@contextmanager
def content_errors(message_type: str) -> Iterator[None]:
    """Report schema errors of content built from the caller's arguments as `InvalidContent`."""
    try:
        yield
    except ValidationError as error:
        raise InvalidContent(
            message_type,
            [
                {"loc": list(item["loc"]), "msg": item["msg"]}
                for item in error.errors(include_url=False, include_input=False)
            ],
        ) from error
