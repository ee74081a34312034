"""The alephnet SDK: accounts and key files, an async client for any Aleph `/api/v0` node, and
a blocking facade over it. See `docs/sdk.md`.

Names load on first use (PEP 562 `__getattr__`): `from alephnet.sdk import AlephClient` imports
the client's modules only, not the accounts' key derivation or the CRN client's crypto, so a
script or an `alephnet` command pays only for what it uses. Type checkers read the imports under
`TYPE_CHECKING` and `__all__`; at run time `EXPORTS` says which module defines each name
(`tests/sdk/test_exports.py` checks that the three agree).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alephnet.sdk._download import DownloadProgress
    from alephnet.sdk._filters import MessageFilters, PostFilters
    from alephnet.sdk._instance import DEFAULT_ROOTFS_SIZE_MIB, InstanceSettings
    from alephnet.sdk._lifecycle import ClientState
    from alephnet.sdk._program import DEFAULT_RUNTIME, ProgramSettings
    from alephnet.sdk._uploads import Progress, StorageEngine
    from alephnet.sdk._watch import Connector, MessageSocket
    from alephnet.sdk.accounts import (
        Account,
        KeyStore,
        StoredKey,
        account_from_mnemonic,
        alephnet_home,
        generate_account,
        import_account,
        load_account,
    )
    from alephnet.sdk.authenticated import (
        DEFAULT_CHANNEL,
        MAX_INLINE_SIZE,
        AuthenticatedAlephClient,
    )
    from alephnet.sdk.client import DEFAULT_API_URL, NODE_REGISTRY_OWNER, AlephClient
    from alephnet.sdk.crn import DEFAULT_CRN_URL, CrnClient
    from alephnet.sdk.exceptions import (
        AccountError,
        AlephError,
        ForgottenMessage,
        HashMismatch,
        InsufficientBalance,
        InvalidContent,
        InvalidResponse,
        MessageRejected,
        NodeUnreachable,
        NotAuthorized,
        NotFound,
        RequestTimeout,
        ResponseError,
        TransportError,
    )
    from alephnet.sdk.models import (
        AddressFile,
        AddressFiles,
        AddressStatsPage,
        AggregatePage,
        AggregateRecord,
        Authorization,
        Balance,
        CoreNode,
        CrnConfig,
        Downloaded,
        Execution,
        ExecutionNetworking,
        FileMetadata,
        LogEntry,
        MappedPort,
        Message,
        MessageInfo,
        MessagePage,
        NodeRegistry,
        Post,
        PostPage,
        PriceEstimate,
        ProgramPublished,
        Published,
        ResourceNode,
        StoredContent,
    )
    from alephnet.sdk.sync import SyncAlephClient, SyncAuthenticatedAlephClient, SyncCrnClient
    from alephnet.sdk.transport import (
        DEFAULT_TIMEOUT_SECONDS,
        AsgiTransport,
        FunctionTransport,
        HttpxTransport,
        Transport,
    )

EXPORTS: dict[str, tuple[str, ...]] = {
    "_download": ("DownloadProgress",),
    "_filters": ("MessageFilters", "PostFilters"),
    "_instance": ("DEFAULT_ROOTFS_SIZE_MIB", "InstanceSettings"),
    "_lifecycle": ("ClientState",),
    "_program": ("DEFAULT_RUNTIME", "ProgramSettings"),
    "_uploads": ("Progress", "StorageEngine"),
    "_watch": ("Connector", "MessageSocket"),
    "accounts": (
        "Account",
        "KeyStore",
        "StoredKey",
        "account_from_mnemonic",
        "alephnet_home",
        "generate_account",
        "import_account",
        "load_account",
    ),
    "authenticated": ("DEFAULT_CHANNEL", "MAX_INLINE_SIZE", "AuthenticatedAlephClient"),
    "client": ("DEFAULT_API_URL", "NODE_REGISTRY_OWNER", "AlephClient"),
    "crn": ("DEFAULT_CRN_URL", "CrnClient"),
    "exceptions": (
        "AccountError",
        "AlephError",
        "ForgottenMessage",
        "HashMismatch",
        "InsufficientBalance",
        "InvalidContent",
        "InvalidResponse",
        "MessageRejected",
        "NodeUnreachable",
        "NotAuthorized",
        "NotFound",
        "RequestTimeout",
        "ResponseError",
        "TransportError",
    ),
    "models": (
        "AddressFile",
        "AddressFiles",
        "AddressStatsPage",
        "AggregatePage",
        "AggregateRecord",
        "Authorization",
        "Balance",
        "CoreNode",
        "CrnConfig",
        "Downloaded",
        "Execution",
        "ExecutionNetworking",
        "FileMetadata",
        "LogEntry",
        "MappedPort",
        "Message",
        "MessageInfo",
        "MessagePage",
        "NodeRegistry",
        "Post",
        "PostPage",
        "PriceEstimate",
        "ProgramPublished",
        "Published",
        "ResourceNode",
        "StoredContent",
    ),
    "sync": ("SyncAlephClient", "SyncAuthenticatedAlephClient", "SyncCrnClient"),
    "transport": (
        "DEFAULT_TIMEOUT_SECONDS",
        "AsgiTransport",
        "FunctionTransport",
        "HttpxTransport",
        "Transport",
    ),
}
"""The public names, by the module (under `alephnet.sdk`) that defines them."""

_MODULE_OF = {name: module for module, names in EXPORTS.items() for name in names}

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CHANNEL",
    "DEFAULT_CRN_URL",
    "DEFAULT_ROOTFS_SIZE_MIB",
    "DEFAULT_RUNTIME",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_INLINE_SIZE",
    "NODE_REGISTRY_OWNER",
    "Account",
    "AccountError",
    "AddressFile",
    "AddressFiles",
    "AddressStatsPage",
    "AggregatePage",
    "AggregateRecord",
    "AlephClient",
    "AlephError",
    "AsgiTransport",
    "AuthenticatedAlephClient",
    "Authorization",
    "Balance",
    "ClientState",
    "Connector",
    "CoreNode",
    "CrnClient",
    "CrnConfig",
    "DownloadProgress",
    "Downloaded",
    "Execution",
    "ExecutionNetworking",
    "FileMetadata",
    "ForgottenMessage",
    "FunctionTransport",
    "HashMismatch",
    "HttpxTransport",
    "InstanceSettings",
    "InsufficientBalance",
    "InvalidContent",
    "InvalidResponse",
    "KeyStore",
    "LogEntry",
    "MappedPort",
    "Message",
    "MessageFilters",
    "MessageInfo",
    "MessagePage",
    "MessageRejected",
    "MessageSocket",
    "NodeRegistry",
    "NodeUnreachable",
    "NotAuthorized",
    "NotFound",
    "Post",
    "PostFilters",
    "PostPage",
    "PriceEstimate",
    "ProgramPublished",
    "ProgramSettings",
    "Progress",
    "Published",
    "RequestTimeout",
    "ResourceNode",
    "ResponseError",
    "StorageEngine",
    "StoredContent",
    "StoredKey",
    "SyncAlephClient",
    "SyncAuthenticatedAlephClient",
    "SyncCrnClient",
    "Transport",
    "TransportError",
    "account_from_mnemonic",
    "alephnet_home",
    "generate_account",
    "import_account",
    "load_account",
]

if not TYPE_CHECKING:  # type checkers see the imports above; an unknown name stays an error

    def __getattr__(name: str) -> Any:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
