"""An INSTANCE message turned into what the micro-VM executor boots: an `InstanceSpec`.

- The parent image (`rootfs.parent`, `use_latest` followed) is downloaded like any STORE'd
  file; the VM's own disk is `data_dir/volumes/<vm_hash>/rootfs.ext4`, beside its persistent
  volumes, so that erasing the VM removes both.
- Its SSH port (22/tcp), and the ports of the owner's `port-forwarding` aggregate entry for it
  (reference §2.3: TCP, UDP or both, on one host port), are forwarded from free ports of the
  host's 127.0.0.1. An instance keeps the host ports it was given while the CRN runs, so a
  reboot does not move them.
- What this node cannot run is refused before anything starts (`NotAnInstance`, a 400):
  confidential VMs, GPUs, and instances pinned to another node (`requirements.node.node_hash`,
  checked when the CRN knows its own `node_hash`).
"""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from typing import Any

from alephnet.crn.executors.base import InstanceSpec, PortForward, Resources
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import InsufficientCapacity, NotAnInstance
from alephnet.crn.supervisor.routing import base32_label
from alephnet.crn.supervisor.vm_message import VolumePreparer, resources_of, vm_content
from alephnet.protocol.content import InstanceContent

SSH_PORT = 22
ROOTFS_NAME = "rootfs.ext4"
MAX_FORWARDED_PORTS = 32
FREE_PORT_TRIES = 20
PORT_FORWARDING_KEY = "port-forwarding"
_NOT_IN_HOSTNAME = re.compile(r"[^a-z0-9-]+")
HOSTNAME_LENGTH = 63


@dataclass(frozen=True)
class PreparedInstance:
    vm_hash: str
    owner: str
    content: InstanceContent
    spec: InstanceSpec
    # What admission reserves (the message's vCPUs and memory).
    resources: Resources


class InstancePreparer:
    """Fetches an instance's message and parent image and builds its spec."""

    def __init__(self, source: CcnSource, settings: CrnSettings) -> None:
        self._source = source
        self._settings = settings
        self._volumes = VolumePreparer(source, settings.volumes_dir)
        self._host_ports: dict[str, dict[int, int]] = {}

    async def prepare(self, vm_hash: str) -> PreparedInstance:
        message = await self._source.message(vm_hash)
        content = instance_content(vm_hash, message, self._settings.node_hash)
        owner, parent = content.address, content.rootfs.parent
        parent_image, volumes, guest_ports = await asyncio.gather(
            self._source.store_file(parent.ref, owner, parent.use_latest),
            self._volumes.volumes(vm_hash, content.volumes, owner),
            self._guest_ports(vm_hash, owner),
        )
        spec = InstanceSpec(
            vm_hash=vm_hash,
            vcpus=content.resources.vcpus,
            memory_mib=content.resources.memory,
            parent_image=parent_image,
            disk_path=self._settings.volumes_dir / vm_hash / ROOTFS_NAME,
            size_mib=content.rootfs.size_mib,
            authorized_keys=tuple(content.authorized_keys or ()),
            hostname=instance_hostname(vm_hash, content.metadata),
            forwarded_ports=self._forward(vm_hash, guest_ports),
            internet=content.environment.internet,
            volumes=volumes,
            work_dir=self._settings.executions_dir / vm_hash,
        )
        return PreparedInstance(vm_hash, owner, content, spec, resources_of(content))

    async def _guest_ports(self, vm_hash: str, owner: str) -> dict[int, Protocols]:
        """22 over TCP, then the ports the owner asks for this VM in `port-forwarding`, with
        their protocols; entries that name no valid port or no protocol are passed over."""
        entry = (await self._source.aggregate(owner, PORT_FORWARDING_KEY)).get(vm_hash)
        asked = entry.get("ports") if isinstance(entry, dict) else None
        ports = {SSH_PORT: Protocols(tcp=True, udp=False)}
        for port, protocols in (asked if isinstance(asked, dict) else {}).items():
            wanted = _protocols(port, protocols)
            if wanted is not None and len(ports) < MAX_FORWARDED_PORTS:
                ports[int(port)] = wanted | ports.get(int(port), wanted)
        return ports

    def _forward(self, vm_hash: str, guest_ports: dict[int, Protocols]) -> dict[int, PortForward]:
        """Host ports for the guest ports: the ones given before when still free for the
        protocols asked, else new ones."""
        before = self._host_ports.get(vm_hash, {})
        forwarded = {}
        for port, protocols in guest_ports.items():
            host = before.get(port)
            if host is None or not _is_free(host, protocols):
                host = _free_port(protocols)
            forwarded[port] = PortForward(host, protocols.tcp, protocols.udp)
        self._host_ports[vm_hash] = {port: forward.host for port, forward in forwarded.items()}
        return forwarded


def instance_content(
    vm_hash: str, message: dict[str, Any], node_hash: str | None = None
) -> InstanceContent:
    """The instance's content, if this node (`node_hash`, when it knows it) may run it."""
    content = vm_content(vm_hash, message, InstanceContent, NotAnInstance)
    if content.environment.trusted_execution is not None:
        raise NotAnInstance(f"{vm_hash} is a confidential instance: this node runs none")
    requirements = content.requirements
    if requirements is not None and requirements.gpu:
        raise NotAnInstance(f"{vm_hash} asks for a GPU: this node has none")
    pinned = requirements.node.node_hash if requirements and requirements.node else None
    if pinned is not None and node_hash is not None and pinned != node_hash:
        raise NotAnInstance(f"{vm_hash} is for node {pinned}; this node is {node_hash}")
    return content


def instance_hostname(vm_hash: str, metadata: dict[str, Any] | None) -> str:
    """The `name` of the metadata made a valid host name, else the hash's base32 label (the
    reference's host name for VMs)."""
    name = (metadata or {}).get("name")
    cleaned = _NOT_IN_HOSTNAME.sub("-", str(name).lower()).strip("-") if name else ""
    return cleaned[:HOSTNAME_LENGTH].rstrip("-") or base32_label(vm_hash)


@dataclass(frozen=True)
class Protocols:
    """What a forwarded port carries."""

    tcp: bool
    udp: bool

    def __or__(self, other: Protocols) -> Protocols:
        return Protocols(self.tcp or other.tcp, self.udp or other.udp)

    @property
    def socket_types(self) -> list[socket.SocketKind]:
        kinds = [socket.SOCK_STREAM] if self.tcp else []
        return kinds + ([socket.SOCK_DGRAM] if self.udp else [])


def _protocols(port: Any, protocols: Any) -> Protocols | None:
    """The protocols an aggregate entry asks for `port`, None if it names no valid port or no
    protocol."""
    if not (str(port).isdigit() and 0 < int(port) < 65536 and isinstance(protocols, dict)):
        return None
    wanted = Protocols(protocols.get("tcp") is True, protocols.get("udp") is True)
    return wanted if wanted.tcp or wanted.udp else None


def _free_port(protocols: Protocols) -> int:
    """A port of 127.0.0.1 free for every protocol asked (the kernel picks one free for the
    first; the others are checked, and another is picked if one is taken)."""
    first, *others = protocols.socket_types
    for _ in range(FREE_PORT_TRIES):
        with socket.socket(socket.AF_INET, first) as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(port, kind) for kind in others):
            return port
    raise InsufficientCapacity(f"no port of 127.0.0.1 is free for {protocols}")


def _is_free(port: int, protocols: Protocols) -> bool:
    return all(_bindable(port, kind) for kind in protocols.socket_types)


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
