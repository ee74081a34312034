"""`alephnet node ...`: the network's core and compute nodes, from its node registry.

The registry is the `corechannel` aggregate of one address (Aleph's by default), as the official
CLI's `aleph node core|compute` reads it; `--owner` points at another registry (a private
network, a test). `node core` and `node compute` are the official CLI's spellings of
`node list --type core|compute`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from alephnet.cli import output
from alephnet.cli.context import cli_context
from alephnet.cli.errors import fail
from alephnet.cli.options import JsonOption
from alephnet.sdk import NODE_REGISTRY_OWNER, CoreNode, NodeRegistry, NotFound, ResourceNode

app = typer.Typer(
    help="List the network's core (CCN) and compute (CRN) nodes from its node registry.",
    no_args_is_help=True,
)


class NodeType(enum.StrEnum):
    CORE = "core"
    COMPUTE = "compute"
    ALL = "all"


OwnerOption = Annotated[
    str,
    typer.Option(
        "--owner", help="The address whose `corechannel` aggregate is the registry (Aleph's)."
    ),
]
TypeOption = Annotated[
    NodeType, typer.Option("--type", "-t", help="Which nodes: core, compute or all.")
]


@app.command("list")
def list_nodes(
    ctx: typer.Context,
    node_type: TypeOption = NodeType.ALL,
    owner: OwnerOption = NODE_REGISTRY_OWNER,
    as_json: JsonOption = False,
) -> None:
    """Show the registered nodes: name, hash, status, score, and how they link."""
    _show(ctx, node_type, owner, as_json)


@app.command("core")
def core(
    ctx: typer.Context, owner: OwnerOption = NODE_REGISTRY_OWNER, as_json: JsonOption = False
) -> None:
    """Show the core nodes (CCNs): `node list --type core`."""
    _show(ctx, NodeType.CORE, owner, as_json)


@app.command("compute")
def compute(
    ctx: typer.Context, owner: OwnerOption = NODE_REGISTRY_OWNER, as_json: JsonOption = False
) -> None:
    """Show the compute nodes (CRNs): `node list --type compute`."""
    _show(ctx, NodeType.COMPUTE, owner, as_json)


def _show(ctx: typer.Context, node_type: NodeType, owner: str, as_json: bool) -> None:
    try:
        registry = cli_context(ctx).read(lambda client: client.get_nodes(owner))
    except NotFound as error:
        raise fail(
            f"{error}: pass --owner with the address that publishes this network's registry"
        ) from error
    output.emit(_selected(registry, node_type), as_json, lambda _: _print(registry, node_type))


def _selected(registry: NodeRegistry, node_type: NodeType) -> dict[str, Any]:
    """The JSON document: the registry's lists of the chosen kinds, under their model names."""
    sections: dict[str, Any] = {}
    if node_type in (NodeType.CORE, NodeType.ALL):
        sections["core_nodes"] = registry.core_nodes
    if node_type in (NodeType.COMPUTE, NodeType.ALL):
        sections["resource_nodes"] = registry.resource_nodes
    return sections


def _print(registry: NodeRegistry, node_type: NodeType) -> None:
    if node_type in (NodeType.CORE, NodeType.ALL):
        _print_core(registry.core_nodes)
    if node_type in (NodeType.COMPUTE, NodeType.ALL):
        names = {node.hash: node.name for node in registry.core_nodes}
        _print_compute(registry.resource_nodes, names)


def _print_core(nodes: list[CoreNode]) -> None:
    rows = [
        (
            node.name,
            node.hash,
            node.status,
            _score(node.score),
            node.total_staked,
            len(node.resource_nodes),
            node.owner,
        )
        for node in nodes
    ]
    _print_nodes("core", rows, ["name", "hash", "status", "score", "staked", "CRNs", "owner"])


def _print_compute(nodes: list[ResourceNode], core_names: dict[str, str]) -> None:
    """Each compute node's parent is shown by its core node's name when the registry has it."""
    rows = [
        (
            node.name,
            node.hash,
            node.status,
            _score(node.score),
            node.address,
            core_names.get(node.parent or "") or node.parent,
        )
        for node in nodes
    ]
    _print_nodes("compute", rows, ["name", "hash", "status", "score", "address", "linked to"])


def _print_nodes(kind: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
    """Both kinds print alike, so that `node list` reads as one listing: a table titled with
    the count, or one line when the registry has none of that kind."""
    if not rows:
        output.console.print(f"no {kind} nodes")
        return
    output.print_table(rows, columns, title=f"{kind} nodes ({len(rows)})")


def _score(score: float | None) -> str | None:
    return None if score is None else f"{score:.2f}"
