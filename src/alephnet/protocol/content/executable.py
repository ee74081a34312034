"""Fields shared by PROGRAM and INSTANCE content, and the two content models themselves."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from alephnet.protocol.content.base import BaseContent, StrictModel
from alephnet.protocol.content.execution import (
    AuthorizedKey,
    FunctionEnvironment,
    FunctionTriggers,
    HostRequirements,
    InstanceEnvironment,
    MachineResources,
    Payment,
    VariableKey,
    VariableValue,
)
from alephnet.protocol.content.volumes import MachineVolume, RootfsVolume
from alephnet.protocol.enums import Encoding, HypervisorType, Interface, MachineType, PaymentType
from alephnet.protocol.item_hash import ItemHash

MAX_ENTRIES = 256


class BaseExecutableContent(BaseContent):
    allow_amend: bool
    metadata: dict[str, Any] | None = Field(default=None, max_length=MAX_ENTRIES)
    authorized_keys: list[AuthorizedKey] | None = Field(default=None, max_length=MAX_ENTRIES)
    variables: dict[VariableKey, VariableValue] | None = Field(default=None, max_length=MAX_ENTRIES)
    environment: FunctionEnvironment | InstanceEnvironment
    resources: MachineResources
    payment: Payment | None = None
    requirements: HostRequirements | None = None
    volumes: list[MachineVolume] = Field(default_factory=list, max_length=MAX_ENTRIES)
    replaces: str | None = Field(default=None, max_length=128)


class CodeContent(StrictModel):
    encoding: Encoding
    entrypoint: str
    ref: ItemHash
    interface: Interface | None = None
    args: list[str] | None = None
    use_latest: bool = False

    @property
    def effective_interface(self) -> Interface:
        """An ASGI app is named `module:app`; anything else is an executable."""
        if self.interface is not None:
            return Interface(self.interface)
        return Interface.ASGI if ":" in self.entrypoint else Interface.BINARY


class FunctionRuntime(StrictModel):
    ref: ItemHash
    use_latest: bool = True
    comment: str


class DataContent(StrictModel):
    encoding: Encoding
    mount: str
    ref: ItemHash
    use_latest: bool | None = False


class Export(StrictModel):
    encoding: Encoding
    mount: str


class ProgramContent(BaseExecutableContent):
    """A function: code plus a runtime, run on HTTP requests, on messages, or persistently."""

    environment: FunctionEnvironment
    type: Literal[MachineType.VM_FUNCTION]
    code: CodeContent
    runtime: FunctionRuntime
    data: DataContent | None = None
    export: Export | None = None
    on: FunctionTriggers


class InstanceContent(BaseExecutableContent):
    """A whole VM booted from a root filesystem image."""

    environment: InstanceEnvironment
    rootfs: RootfsVolume

    @model_validator(mode="after")
    def _requirements_consistent_with_payment(self) -> InstanceContent:
        requirements = self.requirements
        if requirements is None:
            return self
        node_hash = requirements.node.node_hash if requirements.node else None
        payment_type = self.payment.type if self.payment else PaymentType.HOLD
        if payment_type == PaymentType.SUPERFLUID and node_hash is None:
            raise ValueError("a pay-as-you-go instance needs requirements.node.node_hash")
        if requirements.gpu and self.environment.hypervisor != HypervisorType.QEMU:
            raise ValueError("an instance with a GPU needs hypervisor 'qemu'")
        if requirements.gpu and node_hash is None and payment_type != PaymentType.CREDIT:
            raise ValueError("an instance with a GPU needs requirements.node.node_hash")
        if requirements.node and requirements.node.terms_and_conditions and node_hash is None:
            raise ValueError(
                "terms_and_conditions are those of a node: set requirements.node.node_hash"
            )
        return self
