"""CRN configuration: defaults < TOML file < environment (`ALEPHNET_CRN_*`) < command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from alephnet.settings_sources import NodeSettings

ExecutorName = Literal["sandbox", "microvm"]


def _default_vcpus() -> int:
    """The reference over-commits vCPUs four times: programs are mostly idle."""
    return 4 * (os.cpu_count() or 1)


class CrnSettings(NodeSettings):
    """Every knob of one compute node. Unknown keys are refused: a typo must not silently do
    nothing."""

    model_config = SettingsConfigDict(env_prefix="ALEPHNET_CRN_", extra="forbid")

    data_dir: Path = Path(".alephnet/crn")
    host: str = "127.0.0.1"
    port: int = Field(default=4020, ge=1, le=65535)
    ccn_url: str = Field(
        default="http://127.0.0.1:4024", description="the CCN that holds programs and files"
    )
    executor: ExecutorName = Field(
        default="sandbox",
        description="sandbox (bubblewrap + cgroups, weaker isolation) or microvm (QEMU)",
    )
    reuse_timeout: float = Field(
        default=600.0, ge=0, description="seconds a program stays warm after its last request"
    )
    max_concurrent_requests: int = Field(
        default=32, ge=1, description="requests one program serves at once; others wait"
    )
    memory_mib: int = Field(
        default=8192, ge=1, description="memory (MiB) the programs may use together"
    )
    vcpus: int = Field(
        default_factory=_default_vcpus, ge=1, description="vCPUs the programs may use together"
    )
    authorized_allocation_signers: list[str] = Field(
        default_factory=list,
        description="addresses allowed to call /control/allocations (the linked CCN's key)",
    )
    domain: str = Field(
        default="localhost", description="programs answer at {hash}.vm.{domain} too"
    )
    node_hash: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="this CRN's item hash on the network (its registration): instances pinned "
        "to another node (requirements.node.node_hash) are refused",
    )
    spare_sandboxes: int = Field(
        default=1,
        ge=0,
        description="sandboxes started ahead of demand (sandbox executor): a program without "
        "volumes or internet then starts without waiting for bubblewrap and the interpreter",
    )
    log_level: str = "INFO"
    log_lines_per_execution: int = Field(
        default=1000, ge=1, description="LOG lines kept in memory per execution"
    )
    download_timeout: float = Field(default=120.0, gt=0, description="per read from the CCN")
    restart_backoff_max: float = Field(
        default=60.0, gt=0, description="longest pause before restarting a crashed program"
    )
    instance_check_interval: float = Field(
        default=60.0,
        gt=0,
        description="seconds between checks that the instances' messages are not forgotten "
        "on the CCN (a forgotten one is stopped and its disk erased)",
    )

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def volumes_dir(self) -> Path:
        return self.data_dir / "volumes"

    @property
    def executions_dir(self) -> Path:
        return self.data_dir / "executions"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"
