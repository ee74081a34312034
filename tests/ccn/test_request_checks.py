"""A NUL character in a path or query parameter is an invalid request, whatever the database:
PostgreSQL cannot take one in a query, and would otherwise turn it into a server error."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    "url",
    [
        "/api/v0/posts.json?types=%00",
        "/api/v0/messages.json?channels=a%00b",
        "/api/v0/authorizations/granted/0x%00.json",
    ],
)
async def test_nul_in_a_parameter_is_an_invalid_request(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422
    assert "NUL characters" in response.json()["error"]
