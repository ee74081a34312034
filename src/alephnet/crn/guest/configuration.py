"""What the supervisor tells the guest before it serves: the CONFIGURE frame's header.

The code itself travels as the frame body (zip or plain encodings) or sits on a mounted
volume (squashfs). Volumes are listed as the guest must see them: each executor decides how
they reach the guest (a block device to mount in the micro-VM, a bind mount already in place
in the sandbox), and says so through `GuestVolume.device`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    # Address of the CCN API as the program should reach it (ALEPH_API_HOST), if any.
    api_host: str | None = None
    # Port an executable program listens on; requests are proxied to it.
    executable_port: int = 8080

    def to_header(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> GuestConfiguration:
        fields = {key: value for key, value in header.items() if key in cls.__dataclass_fields__}
        fields["volumes"] = [GuestVolume(**volume) for volume in fields.get("volumes", [])]
        return cls(**fields)
