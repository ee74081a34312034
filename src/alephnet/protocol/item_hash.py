"""Item hashes: the three shapes an Aleph item hash may take, and what each says about storage.

A 64-character lowercase hex string is a sha256 in the node's own store; `Qm…` (CIDv0) and
`bafy…` (CIDv1) are IPFS identifiers. Any other shape is refused, uppercase hex included, as the
reference does: a hash names content, so two spellings of one hash would make two names.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from alephnet.protocol.enums import ItemType

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CID_V0 = re.compile(r"Qm[1-9A-HJ-NP-Za-km-z]{42,44}")
_CID_V1 = re.compile(r"bafy[a-z2-7]{55}")


def item_type_from_hash(item_hash: str) -> ItemType:
    """The storage a hash belongs to; ValueError when the hash has none of the known shapes."""
    if _SHA256_HEX.fullmatch(item_hash):
        return ItemType.STORAGE
    if _CID_V0.fullmatch(item_hash) or _CID_V1.fullmatch(item_hash):
        return ItemType.IPFS
    raise ValueError(
        f"{item_hash!r} is not an item hash: expected 64 lowercase hex characters (sha256), "
        "a CIDv0 (Qm…) or a CIDv1 (bafy…)"
    )


def _check_item_hash(value: str) -> str:
    item_type_from_hash(value)
    return value


ItemHash = Annotated[str, AfterValidator(_check_item_hash)]
