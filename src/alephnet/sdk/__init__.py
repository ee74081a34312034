"""The alephnet SDK: accounts and key files, an async client for any Aleph `/api/v0` node, and
a blocking facade over it. See `docs/sdk.md`."""

from alephnet.sdk._filters import MessageFilters, PostFilters
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
from alephnet.sdk.authenticated import DEFAULT_CHANNEL, MAX_INLINE_SIZE, AuthenticatedAlephClient
from alephnet.sdk.client import DEFAULT_API_URL, AlephClient, ClientState
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
    NotFound,
    RequestTimeout,
    ResponseError,
    TransportError,
)
from alephnet.sdk.models import (
    Balance,
    Downloaded,
    Message,
    MessageInfo,
    MessagePage,
    Post,
    PostPage,
    PriceEstimate,
    ProgramPublished,
    Published,
)
from alephnet.sdk.sync import SyncAlephClient, SyncAuthenticatedAlephClient
from alephnet.sdk.transport import (
    DEFAULT_TIMEOUT_SECONDS,
    AsgiTransport,
    FunctionTransport,
    HttpxTransport,
    Transport,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_CHANNEL",
    "DEFAULT_RUNTIME",
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_INLINE_SIZE",
    "Account",
    "AccountError",
    "AlephClient",
    "AlephError",
    "AsgiTransport",
    "AuthenticatedAlephClient",
    "Balance",
    "ClientState",
    "Connector",
    "Downloaded",
    "ForgottenMessage",
    "FunctionTransport",
    "HashMismatch",
    "HttpxTransport",
    "InsufficientBalance",
    "InvalidContent",
    "InvalidResponse",
    "KeyStore",
    "Message",
    "MessageFilters",
    "MessageInfo",
    "MessagePage",
    "MessageRejected",
    "MessageSocket",
    "NodeUnreachable",
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
    "ResponseError",
    "StorageEngine",
    "StoredKey",
    "SyncAlephClient",
    "SyncAuthenticatedAlephClient",
    "Transport",
    "TransportError",
    "account_from_mnemonic",
    "alephnet_home",
    "generate_account",
    "import_account",
    "load_account",
]
