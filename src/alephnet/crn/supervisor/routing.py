"""Which program a request is for.

`/vm/{hash}/...` names it in the path. A request to `{label}.vm.{domain}` names it in the host:
the label is the 64 hex digits of the hash, or, as on the reference CRN, the lowercase unpadded
base32 of the hash's 32 bytes (52 characters: a DNS label is at most 63). `HostRoutingMiddleware`
rewrites the second form into the first, so one route serves both.
"""

from __future__ import annotations

import base64
import binascii
import re

from starlette.types import ASGIApp, Receive, Scope, Send

HEX_HASH = re.compile(r"^[0-9a-f]{64}$")
BASE32_HASH_LENGTH = 56  # padded length of base32 for 32 bytes


def program_hash(text: str) -> str | None:
    """The program hash in `text` (hex, any case), or None."""
    lowered = text.lower()
    return lowered if HEX_HASH.match(lowered) else None


def hash_from_label(label: str) -> str | None:
    if (hex_hash := program_hash(label)) is not None:
        return hex_hash
    padded = label.upper() + "=" * (BASE32_HASH_LENGTH - len(label))
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def base32_label(vm_hash: str) -> str:
    return base64.b32encode(bytes.fromhex(vm_hash)).decode().rstrip("=").lower()


def hash_from_host(host: str, domain: str) -> str | None:
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    suffix = f".vm.{domain.lower()}"
    if not name.endswith(suffix):
        return None
    label = name[: -len(suffix)]
    return None if "." in label else hash_from_label(label)


class HostRoutingMiddleware:
    def __init__(self, app: ASGIApp, domain: str) -> None:
        self.app = app
        self.domain = domain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            vm_hash = hash_from_host(host, self.domain)
            if vm_hash is not None:
                prefix = f"/vm/{vm_hash}"
                raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
                scope = {
                    **scope,
                    "path": prefix + scope["path"],
                    "raw_path": prefix.encode() + raw_path,
                }
        await self.app(scope, receive, send)
