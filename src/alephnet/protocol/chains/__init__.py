"""Signature verification for every supported chain, and the signers the SDK uses.

`verify_signature(message)` is the one entry point of the node: it picks the chain's verifier
and raises `InvalidSignature` (bad signature) or `InvalidFormat` (a chain this node cannot
verify), as the reference does.
"""

from __future__ import annotations

from alephnet.protocol.chains.base import SignedFields, Signer, Verifier, verification_buffer
from alephnet.protocol.chains.evm import EvmSigner, verify_evm
from alephnet.protocol.chains.solana import SolanaSigner, verify_solana
from alephnet.protocol.chains.tezos import TezosSigner, verify_tezos
from alephnet.protocol.enums import Chain
from alephnet.protocol.errors import InvalidFormat, InvalidSignature
from alephnet.protocol.message import PendingMessage

EVM_CHAINS = frozenset(
    {
        Chain.ETH, Chain.ARB, Chain.AURORA, Chain.BASE, Chain.BLAST, Chain.BOB, Chain.BSC,
        Chain.CYBER, Chain.ETHERLINK, Chain.FRAX, Chain.HYPE, Chain.INK, Chain.LENS,
        Chain.LINEA, Chain.LISK, Chain.METIS, Chain.MODE, Chain.NEO, Chain.OP, Chain.POL,
        Chain.SONIC, Chain.STT, Chain.UNICHAIN, Chain.WLD, Chain.ZORA,
    }
)  # fmt: skip

VERIFIERS: dict[str, Verifier] = {
    **{chain.value: verify_evm for chain in EVM_CHAINS},
    Chain.SOL.value: verify_solana,
    Chain.ES.value: verify_solana,
    Chain.TEZOS.value: verify_tezos,
}


def signed_fields(message: PendingMessage) -> SignedFields:
    return SignedFields(
        chain=message.chain,
        sender=message.sender,
        type=message.type,
        item_hash=message.item_hash,
        time=message.time,
    )


def verify_signature(message: PendingMessage) -> None:
    """Check that `message.sender` signed the message; raise a typed error otherwise."""
    verifier = VERIFIERS.get(message.chain)
    if verifier is None:
        supported = ", ".join(sorted(VERIFIERS))
        raise InvalidFormat(
            f"this node does not verify {message.chain} signatures; supported chains: {supported}"
        )
    if not message.signature:
        raise InvalidSignature("the message has no signature")
    verifier(signed_fields(message), message.signature)


__all__ = [
    "EVM_CHAINS",
    "VERIFIERS",
    "EvmSigner",
    "SignedFields",
    "Signer",
    "SolanaSigner",
    "TezosSigner",
    "verification_buffer",
    "verify_signature",
]
