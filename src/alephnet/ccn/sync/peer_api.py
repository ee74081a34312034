"""One peer's sync routes and messages, with every answer validated: a peer that is down or
answers garbage raises `PeerError`, the one failure the reconciler has to handle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from alephnet.ccn.db.accessors.sync import ReplicatedHash
from alephnet.ccn.sync.digest import Bucket, TimeRange


class PeerError(Exception):
    """The peer could not be reached, or its answer makes no sense."""


class RouteMissing(PeerError):
    """The peer answers 404 on a route of ours: a node of another implementation (or an older
    one), read through the public routes instead."""


class _DigestAnswer(BaseModel):
    buckets: list[tuple[int, str]]


class _HashesAnswer(BaseModel):
    hashes: list[tuple[str, float, bool]]
    truncated: bool


class _MessagesAnswer(BaseModel):
    messages: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Listing:
    """The hashes of a bucket, the first 10 000 only when `truncated`."""

    hashes: list[ReplicatedHash]
    truncated: bool


class EnvelopePage(BaseModel):
    """A page of a range's signed envelopes, and the cursor of the next page (None: the end)."""

    messages: list[dict[str, Any]]
    next: tuple[float, str] | None


@contextmanager
def _peer_errors(peer: str) -> Iterator[None]:
    """Transport failures, HTTP error statuses and malformed bodies, as PeerError."""
    try:
        yield
    except httpx.HTTPStatusError as error:
        missing = error.response.status_code == httpx.codes.NOT_FOUND
        raise (RouteMissing if missing else PeerError)(f"{peer}: {error}") from error
    except (httpx.HTTPError, ValidationError, ValueError) as error:
        raise PeerError(f"{peer}: {error}") from error


class PeerApi:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http
        self.requests = 0

    async def digest(self, span: TimeRange, parts: int) -> list[Bucket]:
        params = {"start": span.start, "end": span.end, "buckets": parts}
        answer = _DigestAnswer.model_validate(await self._get("/api/v0/sync/digest", params))
        if len(answer.buckets) != parts:
            raise PeerError(f"{self._http.base_url}: {len(answer.buckets)} buckets, not {parts}")
        return [Bucket(count, digest) for count, digest in answer.buckets]

    async def hashes(self, span: TimeRange) -> Listing:
        params = {"start": span.start, "end": span.end}
        answer = _HashesAnswer.model_validate(await self._get("/api/v0/sync/hashes", params))
        return Listing([ReplicatedHash(*row) for row in answer.hashes], answer.truncated)

    async def messages(self, item_hashes: list[str]) -> list[dict[str, Any]]:
        """The signed messages among `item_hashes` that the peer holds live, in one request
        (the public `messages.json` route, so any Aleph node can be read this way)."""
        params = {"hashes": ",".join(item_hashes), "pagination": 0}
        answer = _MessagesAnswer.model_validate(await self._get("/api/v0/messages.json", params))
        return answer.messages

    async def envelopes(
        self, span: TimeRange, after: tuple[float, str] | None, limit: int
    ) -> EnvelopePage:
        """One page of the live messages of `span` (our own route, `RouteMissing` on a peer
        without it), after the cursor `after`."""
        params: dict[str, Any] = {"start": span.start, "end": span.end, "limit": limit}
        if after is not None:
            params |= {"after_time": after[0], "after_hash": after[1]}
        page = EnvelopePage.model_validate(await self._get("/api/v0/sync/messages", params))
        if len(page.messages) > limit:
            raise PeerError(f"{self._http.base_url}: {len(page.messages)} messages, not {limit}")
        return page

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer, by orjson (pages of messages are large). orjson reads an
        integer beyond 64 bits as a float: only the parsed `content` of messages.json may hold
        one, and sync never reads it (a message's content is its signed `item_content`)."""
        self.requests += 1
        with _peer_errors(str(self._http.base_url)):
            response = await self._http.get(path, params=params)
            response.raise_for_status()
            return orjson.loads(response.content)
