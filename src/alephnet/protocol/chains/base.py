"""What every chain module provides: a signer (a private key that signs the buffer) and a verifier.

Every chain signs the same four fields, joined by newlines (`verification_buffer`); chains differ
only in how the buffer is signed and how the signature is written into the message's `signature`
string. A chain module therefore implements two things:

- a `Signer` subclass: holds a key, knows its chain and address, turns a buffer into the
  signature string;
- a verify function `(SignedFields, signature) -> None` that raises `InvalidSignature` with a
  reason when the signature does not prove that `sender` signed the buffer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SignedFields:
    """The envelope fields a signature covers, plus `time` (Tezos Beacon wallets sign it too)."""

    chain: str
    sender: str
    type: str
    item_hash: str
    time: float = 0.0

    def buffer(self) -> bytes:
        return verification_buffer(self.chain, self.sender, self.type, self.item_hash)


def verification_buffer(chain: str, sender: str, message_type: str, item_hash: str) -> bytes:
    """The bytes every chain signs: `"{chain}\\n{sender}\\n{type}\\n{item_hash}"` in UTF-8."""
    return f"{chain}\n{sender}\n{message_type}\n{item_hash}".encode()


Verifier = Callable[[SignedFields, str], None]


class Signer(ABC):
    """A private key able to sign messages for one chain."""

    chain: str

    @property
    @abstractmethod
    def address(self) -> str:
        """The sender address this key signs as, in the chain's own format."""

    @abstractmethod
    def sign_buffer(self, buffer: bytes, time: float) -> str:
        """Sign the verification buffer; return the `signature` field of the message."""

    def sign(self, fields: SignedFields) -> str:
        """Sign the envelope fields; refuses fields whose sender is not this key's address."""
        if fields.sender != self.address:
            raise ValueError(f"sender {fields.sender} is not this key's address {self.address}")
        return self.sign_buffer(fields.buffer(), fields.time)
