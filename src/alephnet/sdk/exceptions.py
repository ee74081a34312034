"""Every error the SDK raises, under one base class.

```
AlephError
├── AccountError                 a key file or key that cannot be read, written or used
├── TransportError               the node could not be talked to
│   ├── NodeUnreachable(url)     connection refused, DNS failure, connection dropped
│   └── RequestTimeout(url)      no answer in time
├── ResponseError(status_code)   the node answered, but not with what was asked for
│   ├── NotFound                 404: no such message, aggregate key, file, VM
│   ├── NotAuthorized            401/403: the node wants proof of ownership that was not given
│   └── InvalidResponse          not JSON, or JSON of an unexpected shape
├── MessageRejected(item_hash, error_code, details)
│   └── InsufficientBalance(required, available)
├── ForgottenMessage(item_hash, forgotten_by)
├── HashMismatch(expected, actual)   downloaded bytes are not the file asked for
└── InvalidContent(errors)       content given to a write does not fit its message type
```

Errors of the HTTP library are translated at the transport edge
(`alephnet.sdk.transport.map_transport_errors`), so callers never see an httpx exception or a
`KeyError` from a JSON body, and pydantic's validation errors of content the SDK builds become
`InvalidContent` (`alephnet.sdk._validation`). This module imports neither library, so code that
only catches these errors (the CLI's error handler) loads neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AlephError(Exception):
    """Base of every SDK error."""


class AccountError(AlephError):
    """A key or key file that cannot be read, written or used."""


class TransportError(AlephError):
    """The node could not be talked to; `url` is the address that was tried."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{reason}: {url}")
        self.url = url
        self.reason = reason


class NodeUnreachable(TransportError):
    def __init__(self, url: str, reason: str = "node is not reachable") -> None:
        super().__init__(url, reason)


class RequestTimeout(TransportError):
    def __init__(self, url: str, reason: str = "node did not answer in time") -> None:
        super().__init__(url, reason)


class ResponseError(AlephError):
    """The node answered with an unexpected status or body."""

    def __init__(self, text: str, status_code: int | None = None) -> None:
        super().__init__(text)
        self.status_code = status_code


class NotFound(ResponseError):
    def __init__(self, text: str) -> None:
        super().__init__(text, 404)


class NotAuthorized(ResponseError):
    """A CRN refused an owner operation: no valid signature, or the signer does not own the VM."""


class InvalidResponse(ResponseError):
    """A body that is not JSON, or JSON without the fields every node sends."""


class MessageRejected(AlephError):
    """The node refused the message for good; `error_code` is the protocol's numeric code."""

    def __init__(self, item_hash: str | None, error_code: int | None, details: Any) -> None:
        code = "" if error_code is None else f" with error code {error_code}"
        super().__init__(f"message {item_hash} was rejected{code}: {details}")
        self.item_hash = item_hash
        self.error_code = error_code
        self.details = details


class InsufficientBalance(MessageRejected):
    """Error code 5: the sender does not hold enough tokens for what the message costs."""

    def __init__(
        self, item_hash: str | None, details: Any, required: float | None, available: float | None
    ) -> None:
        super().__init__(item_hash, 5, details)
        self.required = required
        self.available = available


class ForgottenMessage(AlephError):
    """The message existed, but a FORGET (or a removal) erased it."""

    def __init__(self, item_hash: str, forgotten_by: Sequence[str] = (), status: str = "") -> None:
        by = f" by {', '.join(forgotten_by)}" if forgotten_by else ""
        super().__init__(f"message {item_hash} was {status or 'forgotten'}{by}")
        self.item_hash = item_hash
        self.forgotten_by = list(forgotten_by)


class HashMismatch(AlephError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"downloaded bytes hash to {actual}, not to the requested {expected}")
        self.expected = expected
        self.actual = actual


class InvalidContent(AlephError):
    """Content passed to a write method breaks the message schema; nothing was sent."""

    def __init__(self, message_type: str, errors: list[dict[str, Any]]) -> None:
        self.message_type = message_type
        self.errors = errors
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors
        )
        super().__init__(f"invalid {message_type} content: {problems}")
