"""Sub-models of PROGRAM and INSTANCE content: payment, resources, environment, requirements.

Bounds and defaults are the reference schema's, so a message valid here is valid on Aleph.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from alephnet.protocol.content.base import StrictModel
from alephnet.protocol.enums import (
    Chain,
    CpuArchitecture,
    GpuDeviceClass,
    HypervisorType,
    NetworkProtocol,
    PaymentType,
)
from alephnet.protocol.item_hash import ItemHash

MAX_VCPUS = 256
MAX_MEMORY_MIB = 1_048_576
MAX_SECONDS = 315_360_000


class Payment(StrictModel):
    chain: Chain | None = None
    receiver: str | None = None
    type: PaymentType

    @property
    def is_stream(self) -> bool:
        return self.type == PaymentType.SUPERFLUID


class PublishedPort(StrictModel):
    protocol: NetworkProtocol = NetworkProtocol.TCP
    port: int = Field(ge=1, le=65535)


class MachineResources(StrictModel):
    vcpus: int = Field(default=1, ge=1, le=MAX_VCPUS)
    memory: int = Field(default=128, ge=1, le=MAX_MEMORY_MIB, description="MiB")
    seconds: int = Field(default=1, ge=1, le=MAX_SECONDS)
    published_ports: list[PublishedPort] | None = None


class FunctionEnvironment(StrictModel):
    reproducible: bool = False
    internet: bool = False
    aleph_api: bool = False
    shared_cache: bool = False


MeasuredMode = Literal["sev", "sev_snp", "tdx"]


class TrustedExecutionEnvironment(StrictModel):
    """Confidential VMs: AMD SEV with a firmware (`policy` is the AMD SEV bit set), or one of the
    measured modes, which carry their runtime and launch measurements instead of a firmware."""

    firmware: ItemHash | None = None
    policy: int = 1
    mode: MeasuredMode | None = None
    runtime: ItemHash | None = None
    measurements: list[dict[str, Any]] | None = None
    attestation_port: int | None = Field(default=None, ge=1, le=65535)
    gpu: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _measured_modes_carry_measurements(self) -> TrustedExecutionEnvironment:
        if self.mode is not None:
            if self.runtime is None or not self.measurements:
                raise ValueError(
                    f"trusted execution mode {self.mode!r} needs runtime and measurements"
                )
            if self.firmware is not None:
                raise ValueError(f"trusted execution mode {self.mode!r} takes no firmware")
        return self


class InstanceEnvironment(StrictModel):
    internet: bool = False
    aleph_api: bool = False
    hypervisor: HypervisorType | None = None
    trusted_execution: TrustedExecutionEnvironment | None = None
    reproducible: bool = False
    shared_cache: bool = False

    @model_validator(mode="after")
    def _tee_needs_qemu(self) -> InstanceEnvironment:
        if self.trusted_execution is not None and self.hypervisor != HypervisorType.QEMU:
            raise ValueError("a trusted execution environment needs hypervisor 'qemu'")
        return self


class CpuProperties(StrictModel):
    architecture: CpuArchitecture | None = None
    vendor: str | None = None
    features: list[str] | None = None


class NodeRequirements(StrictModel):
    owner: str | None = None
    address_regex: str | None = Field(default=None, max_length=256)
    node_hash: ItemHash | None = None
    terms_and_conditions: ItemHash | None = None

    @field_validator("address_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"address_regex does not compile: {error}") from error
        return value


class GpuProperties(StrictModel):
    vendor: str
    device_name: str
    device_class: GpuDeviceClass
    device_id: str


class HostRequirements(StrictModel):
    cpu: CpuProperties | None = None
    node: NodeRequirements | None = None
    gpu: list[GpuProperties] | None = None


class Subscription(StrictModel):
    """A filter on messages that triggers a program; its keys are free-form."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _at_most_32_keys(self) -> Subscription:
        if len(self.model_extra or {}) > 32:
            raise ValueError("a subscription holds at most 32 filter keys")
        return self


class FunctionTriggers(StrictModel):
    http: bool
    message: list[Subscription] | None = None
    persistent: bool | None = None


AuthorizedKey = Annotated[str, Field(max_length=8192)]
VariableKey = Annotated[str, Field(max_length=128)]
VariableValue = Annotated[str, Field(max_length=4096)]
