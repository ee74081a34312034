"""Typed FastAPI dependencies: the node's shared objects, from the lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from alephnet.crn.supervisor.node import CrnNode


def get_node(connection: HTTPConnection) -> CrnNode:
    node: CrnNode = connection.state.node
    return node


NodeDep = Annotated[CrnNode, Depends(get_node)]
