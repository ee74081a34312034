"""The protocol's closed vocabularies, with the exact string values found on the wire."""

from __future__ import annotations

from enum import StrEnum


class Chain(StrEnum):
    ARB = "ARB"
    AURORA = "AURORA"
    AVAX = "AVAX"
    BASE = "BASE"
    BLAST = "BLAST"
    BOB = "BOB"
    BSC = "BSC"
    CSDK = "CSDK"
    CYBER = "CYBER"
    DOT = "DOT"
    ES = "ES"
    ETH = "ETH"
    ETHERLINK = "ETHERLINK"
    FRAX = "FRAX"
    HYPE = "HYPE"
    INK = "INK"
    LENS = "LENS"
    LINEA = "LINEA"
    LISK = "LISK"
    METIS = "METIS"
    MODE = "MODE"
    NEO = "NEO"
    NULS = "NULS"
    NULS2 = "NULS2"
    OP = "OP"
    POL = "POL"
    SOL = "SOL"
    STT = "STT"
    SONIC = "SONIC"
    TEZOS = "TEZOS"
    UNICHAIN = "UNICHAIN"
    WLD = "WLD"
    ZORA = "ZORA"


class MessageType(StrEnum):
    POST = "POST"
    AGGREGATE = "AGGREGATE"
    STORE = "STORE"
    PROGRAM = "PROGRAM"
    INSTANCE = "INSTANCE"
    FORGET = "FORGET"


class ItemType(StrEnum):
    """How a message's content travels: in the message, or by hash in a file store."""

    INLINE = "inline"
    STORAGE = "storage"
    IPFS = "ipfs"


class HashType(StrEnum):
    SHA256 = "sha256"


class MessageStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    REJECTED = "rejected"
    FORGOTTEN = "forgotten"
    REMOVING = "removing"
    REMOVED = "removed"


class PaymentType(StrEnum):
    HOLD = "hold"
    SUPERFLUID = "superfluid"
    CREDIT = "credit"


class Encoding(StrEnum):
    PLAIN = "plain"
    ZIP = "zip"
    SQUASHFS = "squashfs"


class MachineType(StrEnum):
    VM_INSTANCE = "vm-instance"
    VM_FUNCTION = "vm-function"


class Interface(StrEnum):
    ASGI = "asgi"
    BINARY = "binary"


class VolumePersistence(StrEnum):
    HOST = "host"
    STORE = "store"


class HypervisorType(StrEnum):
    QEMU = "qemu"
    FIRECRACKER = "firecracker"


class NetworkProtocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class CpuArchitecture(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class GpuDeviceClass(StrEnum):
    VGA_COMPATIBLE_CONTROLLER = "0300"
    _3D_CONTROLLER = "0302"
