"""What the supervisor tells the guest before it serves: the CONFIGURE frame's header.

The code itself travels as the frame body (zip or plain encodings) or sits on a mounted
volume (squashfs). Volumes are listed as the guest must see them: each executor decides how
they reach the guest (a block device to mount in the micro-VM, a bind mount already in place
in the sandbox), and says so through `GuestVolume.device`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alephnet.crn.guest.api import GUEST_API_PORT


@dataclass(frozen=True)
class GuestVolume:
    mount: str
    # A block device the guest mounts itself (`/dev/vdb`), or None when the executor has
    # already put the volume at `mount` (the sandbox's bind mounts).
    device: str | None
    read_only: bool
    filesystem: str | None = None  # "squashfs", "ext4"; None lets `mount` guess


@dataclass(frozen=True)
class GuestConfiguration:
    vm_hash: str
    interface: str  # "asgi" or "executable"
    encoding: str  # "plain", "zip" or "squashfs"
    entrypoint: str
    # Where a squashfs code volume is mounted (the guest imports from / runs in it).
    code_mount: str | None = None
    args: list[str] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    volumes: list[GuestVolume] = field(default_factory=list)
    # The CCN's URL when the program has `environment.aleph_api`, else None. The guest then
    # serves the guest API on `api_port` (0: any free port, for tests that run the guest on
    # the host) and gives the program that address as ALEPH_API_HOST; the supervisor proxies
    # to this URL. The guest never connects to it itself.
    api_host: str | None = None
    api_port: int = GUEST_API_PORT
    # Port an executable program listens on; requests are proxied to it.
    executable_port: int = 8080

    def to_header(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> GuestConfiguration:
        fields = {key: value for key, value in header.items() if key in cls.__dataclass_fields__}
        fields["volumes"] = [GuestVolume(**volume) for volume in fields.get("volumes", [])]
        return cls(**fields)
