"""Typed FastAPI dependencies: the node's shared objects and a database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from alephnet.ccn.node import Node


async def get_node(connection: HTTPConnection) -> Node:
    """Any connection: an HTTP request or a WebSocket. Async although it never awaits:
    FastAPI runs a plain `def` dependency in its thread pool, a hop on every request."""
    node: Node = connection.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


async def get_session(node: NodeDep) -> AsyncIterator[AsyncSession]:
    """A read session; views that write open their own transaction on it."""
    async with node.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
