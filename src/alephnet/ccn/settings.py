"""CCN configuration: defaults < TOML file < environment (`ALEPHNET_CCN_*`) < command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from alephnet.settings_sources import NodeSettings

MIB = 1 << 20
HOUR = 3600.0


class CcnSettings(NodeSettings):
    """Every knob of one node. Unknown keys are refused: a typo must not silently do nothing."""

    model_config = SettingsConfigDict(env_prefix="ALEPHNET_CCN_", extra="forbid")

    data_dir: Path = Path(".alephnet/ccn")
    host: str = "127.0.0.1"
    port: int = Field(default=4024, ge=1, le=65535)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite in the data dir"
    )
    log_level: str = "INFO"
    max_request_body: int = Field(default=2 * MIB, description="JSON requests (messages)")
    max_unauthenticated_upload: int = 25 * MIB
    max_file_size: int = 100 * MIB
    max_ipfs_upload: int = 1024 * MIB
    sync_timeout: float = Field(default=30.0, description="how long ?sync=true waits")
    max_retries: int = 10
    retry_cap_seconds: float = 300.0
    processing_batch: int | None = Field(
        default=None,
        ge=1,
        description="most messages per processing batch [1000 in a processing worker, 500 in "
        "the node's process, where a batch shares the API's event loop]",
    )
    processing_process: bool = Field(
        default=False,
        description="process messages in a worker process of their own (a second core)",
    )
    commit_interval: float = Field(
        default=0.002, description="how long the intake waits to group concurrent commits"
    )
    grace_period_hours: float = 24.0
    gc_interval_hours: float = Field(
        default=1.0, gt=0, description="how often unpinned files are deleted"
    )
    queue_topic: str = "ALEPH-TEST"
    peers: list[str] = Field(
        default_factory=list,
        description="HTTP API URLs of other CCNs to reconcile with (anti-entropy sync)",
    )
    sync_interval: float = Field(default=5.0, gt=0, description="seconds between sync rounds")
    sync_first_round_delay: float = Field(
        default=0.0, ge=0, description="seconds from start to the first sync round"
    )
    p2p: bool = Field(default=False, description="gossip with other CCNs over libp2p")
    p2p_port: int = Field(default=4025, ge=0, le=65535, description="libp2p TCP port (0: any)")
    bootstrap_peers: list[str] = Field(
        default_factory=list,
        description="libp2p multiaddrs (/ip4/…/tcp/…/p2p/<peer id>) to stay connected to",
    )
    announce_interval: float = Field(
        default=120.0, gt=0, description="seconds between ALIVE announcements"
    )
    max_message_websockets: int = Field(
        default=10_000, ge=0, description="open /api/ws0/messages connections at most"
    )

    @field_validator("bootstrap_peers")
    @classmethod
    def _name_peer_ids(cls, addresses: list[str]) -> list[str]:
        """A bootstrap peer without its peer id could not be authenticated: refused early."""
        for address in addresses:
            if not address.startswith("/") or "/p2p/" not in address:
                raise ValueError(f"{address!r} is not a multiaddr ending in /p2p/<peer id>")
        return addresses

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ccn.sqlite3').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def grace_period_seconds(self) -> float:
        return self.grace_period_hours * HOUR

    @property
    def gc_interval_seconds(self) -> float:
        return self.gc_interval_hours * HOUR
