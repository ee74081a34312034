"""The CCN's content store: local files by hash, and the byte ranges served from them."""

from alephnet.ccn.storage.errors import (
    FileNotFound,
    FileTooLarge,
    HashMismatch,
    InvalidHash,
    RangeNotSatisfiable,
    StorageError,
)
from alephnet.ccn.storage.filestore import FileStore, StoredFile
from alephnet.ccn.storage.ranges import parse_range_header

__all__ = [
    "FileNotFound",
    "FileStore",
    "FileTooLarge",
    "HashMismatch",
    "InvalidHash",
    "RangeNotSatisfiable",
    "StorageError",
    "StoredFile",
    "parse_range_header",
]
