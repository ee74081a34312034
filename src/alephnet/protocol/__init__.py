"""The Aleph protocol, pure: message models, parsing, hashing, signatures and IPFS CIDs.

Nothing here does I/O; every other part of alephnet imports it and it imports none of them.
"""

from alephnet.protocol.builder import BuiltMessage, build_message, serialize_content
from alephnet.protocol.chains import (
    EvmSigner,
    SignedFields,
    Signer,
    SolanaSigner,
    TezosSigner,
    verification_buffer,
    verify_signature,
)
from alephnet.protocol.enums import Chain, ItemType, MessageStatus, MessageType
from alephnet.protocol.errors import ErrorCode, InvalidMessage, MessageError, RetryMessage
from alephnet.protocol.item_hash import ItemHash, item_type_from_hash
from alephnet.protocol.message import PendingMessage
from alephnet.protocol.parsing import parse_content, parse_message
from alephnet.protocol.validation import validate_message

__all__ = [
    "BuiltMessage",
    "Chain",
    "ErrorCode",
    "EvmSigner",
    "InvalidMessage",
    "ItemHash",
    "ItemType",
    "MessageError",
    "MessageStatus",
    "MessageType",
    "PendingMessage",
    "RetryMessage",
    "SignedFields",
    "Signer",
    "SolanaSigner",
    "TezosSigner",
    "build_message",
    "item_type_from_hash",
    "parse_content",
    "parse_message",
    "serialize_content",
    "validate_message",
    "verification_buffer",
    "verify_signature",
]
