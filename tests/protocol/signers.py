"""One signer per supported chain and key kind, built from fixed keys, for the tests."""

from __future__ import annotations

from collections.abc import Callable

from alephnet.protocol import EvmSigner, Signer, SolanaSigner, TezosSigner

KEY_A = bytes(range(1, 33))
KEY_B = bytes(range(33, 65))

SIGNER_FACTORIES: dict[str, Callable[[bytes], Signer]] = {
    "ETH": EvmSigner,
    "BASE": lambda key: EvmSigner(key, chain="BASE"),
    "SOL": SolanaSigner,
    "ES": lambda key: SolanaSigner(key, chain="ES"),
    "TEZOS-ed25519": TezosSigner.ed25519,
    "TEZOS-secp256k1": TezosSigner.secp256k1,
    "TEZOS-p256": TezosSigner.p256,
    "TEZOS-ed25519-micheline": lambda key: TezosSigner.ed25519(key, signing_type="micheline"),
}
