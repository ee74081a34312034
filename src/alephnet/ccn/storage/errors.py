"""Errors of the node's file store, one class per answer the HTTP layer has to give.

Each carries the values that answer needs (the limit for a 413, both hashes for a 422, the size
for the `Content-Range: bytes */size` of a 416), so callers never parse messages.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every file store error."""


class InvalidHash(StorageError, ValueError):
    """The string is neither a sha256 hex digest nor a CID: it can name no file (HTTP 400)."""

    def __init__(self, item_hash: str) -> None:
        super().__init__(f"{item_hash!r} is not a sha256 hex digest nor a CID")
        self.item_hash = item_hash


class FileTooLarge(StorageError):
    """The stream went past the size the caller allows (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"file exceeds the {limit}-byte limit")
        self.limit = limit


class HashMismatch(StorageError):
    """The bytes received are not those the caller announced (HTTP 422)."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected hash {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class FileNotFound(StorageError):
    """No file with this hash in the store (HTTP 404)."""

    def __init__(self, item_hash: str) -> None:
        super().__init__(f"no file {item_hash} in the store")
        self.item_hash = item_hash


class RangeNotSatisfiable(StorageError):
    """A byte range request that selects nothing of the file, or is malformed (HTTP 416)."""

    def __init__(self, header: str, size: int) -> None:
        super().__init__(f"range {header!r} cannot be served from a {size}-byte file")
        self.header = header
        self.size = size
