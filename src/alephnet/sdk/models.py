"""What the clients return: typed values parsed from the node's JSON, never raw dicts.

Every model ignores keys it does not know (nodes add fields over time) and requires the ones
every node sends; a body without them is an `InvalidResponse`, not a `KeyError` later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alephnet.protocol.enums import MessageStatus
from alephnet.protocol.message import to_epoch


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


ENVELOPE_FIELDS = frozenset(
    [
        "chain",
        "sender",
        "type",
        "channel",
        "time",
        "item_type",
        "item_content",
        "item_hash",
        "signature",
    ]
)


class Message(_Model):
    """A message as the node serves it: the signed envelope plus its resolved `content`."""

    chain: str
    sender: str
    type: str
    item_hash: str
    item_type: str
    time: float
    signature: str | None = None
    channel: str | None = None
    item_content: str | None = None
    content: Any = None
    size: int | None = None
    confirmed: bool | None = None
    confirmations: list[Any] | None = None
    forgotten_by: list[str] | None = None

    _epoch = field_validator("time", mode="before")(to_epoch)

    def envelope(self) -> dict[str, Any]:
        """The signed fields, as submitted: what `validate_message` checks."""
        return self.model_dump(include=set(ENVELOPE_FIELDS))


class MessagePage(_Model):
    messages: list[Message]
    per_page: int = Field(alias="pagination_per_page")
    page: int | None = Field(default=None, alias="pagination_page")
    total: int | None = Field(default=None, alias="pagination_total")
    next_cursor: str | None = None


class MessageInfo(_Model):
    """`GET /messages/{hash}`: the status, and the message when the node still has it."""

    status: MessageStatus
    item_hash: str
    reception_time: float
    message: Message | None = None
    error_code: int | None = None
    details: Any = None
    forgotten_by: list[str] | None = None

    _epoch = field_validator("reception_time", mode="before")(to_epoch)


class Post(_Model):
    """A post with its latest amend applied, under its original's identity."""

    item_hash: str
    original_item_hash: str
    type: str
    address: str | None = None
    content: Any = None
    ref: Any = None
    channel: str | None = None
    chain: str | None = None
    time: float

    _epoch = field_validator("time", mode="before")(to_epoch)


class PostPage(_Model):
    posts: list[Post]
    page: int = Field(alias="pagination_page")
    total: int = Field(alias="pagination_total")
    per_page: int = Field(alias="pagination_per_page")


class Balance(_Model):
    address: str
    balance: float
    locked_amount: float = 0.0
    credit_balance: float = 0.0
    details: dict[str, float] | None = None


class PriceEstimate(_Model):
    required_tokens: float
    payment_type: str
    cost: str | None = None


class Published(_Model):
    """A message sent to a node, and what the node said of it (processed or pending)."""

    item_hash: str
    status: MessageStatus
    message: dict[str, Any]


class ProgramPublished(Published):
    """A PROGRAM message, and the STORE of its code that it points to."""

    code: Published


class Downloaded(_Model):
    """A file written to disk: where, how large, and how much of it a resumed download reused."""

    path: Path
    size: int
    resumed_from: int = 0


class FileMetadata(_Model):
    """`GET /storage/metadata/{hash}`: what the node holds of a file, without its bytes."""

    file_hash: str
    size: int
    type: str | None = None
    download_url: str | None = None


class StoredContent(_Model):
    """The file a STORE message keeps: its name (the STORE's `metadata.name`), hash and URL."""

    store_hash: str
    file_hash: str
    engine: str
    size: int | None = None
    filename: str | None = None
    url: str


class AddressFile(_Model):
    file_hash: str
    size: int
    type: str | None = None
    created: float
    item_hash: str

    _epoch = field_validator("created", mode="before")(to_epoch)


class AddressFiles(_Model):
    """`GET /addresses/{address}/files`: the files an address keeps with STORE messages."""

    address: str
    total_size: int
    files: list[AddressFile]
    page: int = Field(alias="pagination_page")
    total: int = Field(alias="pagination_total")
    per_page: int = Field(alias="pagination_per_page")


class AggregateRecord(_Model):
    address: str
    key: str
    content: Any = None
    created: float | None = None
    last_updated: float | None = None

    _epoch = field_validator("created", "last_updated", mode="before")(to_epoch)


class AggregatePage(_Model):
    aggregates: list[AggregateRecord]
    page: int = Field(alias="pagination_page")
    total: int = Field(alias="pagination_total")
    per_page: int = Field(alias="pagination_per_page")


class AddressStatsPage(_Model):
    """Message counts per address (`/api/v1/addresses/stats.json`): for each address, a count
    per message type (`post`, `aggregate`, ...) and in total (`messages`)."""

    data: dict[str, dict[str, int]]
    page: int = Field(alias="pagination_page")
    total: int = Field(alias="pagination_total")
    per_page: int = Field(alias="pagination_per_page")


class Authorization(_Model):
    """One entry of an address's `security` aggregate: what `address` may write for it (an
    empty list allows everything of that kind)."""

    address: str
    chain: str | None = None
    types: list[str] = []
    channels: list[str] = []
    post_types: list[str] = []
    aggregate_keys: list[str] = []


# --- compute nodes (CRN) -----------------------------------------------------------------


class MappedPort(_Model):
    """A VM port reachable from outside on the CRN host's port `host`."""

    host: int
    tcp: bool = True
    udp: bool = False


class ExecutionNetworking(_Model):
    ipv4_ip: str | None = None
    ipv4_network: str | None = None
    host_ipv4: str | None = None
    ipv6_ip: str | None = None
    ipv6_network: str | None = None
    mapped_ports: dict[str, MappedPort] = {}


class Execution(_Model):
    """A program or instance a CRN runs or ran (`/v2/about/executions/list`)."""

    item_hash: str
    running: bool = False
    vm_type: str | None = None
    networking: ExecutionNetworking = ExecutionNetworking()
    status: dict[str, Any] | None = None


class LogEntry(_Model):
    """One line a VM printed, as a CRN serves it (journald's field names)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message: str = Field(alias="MESSAGE")
    stream: str = Field(default="stdout", alias="file")
    time: float | None = Field(default=None, alias="__REALTIME_TIMESTAMP")

    @field_validator("time", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        """journald counts microseconds since the epoch (as a string); ISO times pass too."""
        if (isinstance(value, str) and value.isdigit()) or isinstance(value, int):
            return int(value) / 1_000_000
        return to_epoch(value)


class CrnConfig(_Model):
    """What a CRN's `/status/config` tells clients (the reference's keys where it has them)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    domain_name: str | None = Field(default=None, alias="DOMAIN_NAME")
    runtime_ref: str | None = None
    """The STORE of the runtime this node runs programs with (alephnet CRNs publish one)."""


# --- the node registry (`corechannel` aggregate) -----------------------------------------


class _RegisteredNode(_Model):
    """What the registry says of every node, core or compute. Only `hash` is required: the
    registry is written by a separate service (`aleph-nodestatus`) whose fields vary between
    versions, and a node that just registered has no score, status or URL yet."""

    hash: str
    name: str = ""
    owner: str | None = None
    manager: str | None = None
    reward: str | None = None
    """The address paid for running the node."""
    status: str | None = None
    score: float | None = None
    performance: float | None = None
    decentralization: float | None = None
    locked: bool | None = None
    time: float | None = None
    """When the node registered."""
    inactive_since: float | None = None


class CoreNode(_RegisteredNode):
    """A Core Channel Node (`nodes[]`): it serves the API and links compute nodes."""

    multiaddress: str | None = None
    """Where its peer-to-peer service listens, e.g. `/ip4/.../tcp/4025/p2p/Qm...`."""
    total_staked: float | None = None
    resource_nodes: list[str] = []
    """The hashes of the compute nodes it links."""


class ResourceNode(_RegisteredNode):
    """A Compute Resource Node (`resource_nodes[]`): it runs programs and instances."""

    address: str | None = None
    """Its URL (empty when another node registered the same host first)."""
    type: str | None = None
    parent: str | None = None
    """The hash of the core node that links it, if one does."""


class NodeRegistry(_Model):
    """The network's nodes as its registry lists them."""

    core_nodes: list[CoreNode] = Field(default=[], alias="nodes")
    resource_nodes: list[ResourceNode] = []
