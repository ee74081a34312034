"""One place that turns the SDK's expected errors into one line a person can act on.

Every `AlephError` reaching the command line is a failure the user can do something about
(start a node, fix a hash, fund an account), so it gets a sentence saying what went wrong and
what to do, and exit status 1; a traceback is kept for real bugs. Usage errors keep click's
exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click
import typer
from typer.core import TyperGroup

from alephnet.sdk import (
    AccountError,
    AlephError,
    ForgottenMessage,
    HashMismatch,
    InsufficientBalance,
    InvalidResponse,
    MessageRejected,
    NodeUnreachable,
    NotAuthorized,
    NotFound,
    RequestTimeout,
    ResponseError,
)

FAILURE = 1


def _origin(url: str) -> str:
    """The node's address without the API path, as the user typed it in --api-url."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _unreachable(error: NodeUnreachable) -> str:
    return (
        f"node at {_origin(error.url)} is not reachable: start one with `./run devnet` "
        "(or `alephnet ccn run`), or pass --api-url / set ALEPHNET_API_URL"
    )


def _timeout(error: RequestTimeout) -> str:
    return f"node at {_origin(error.url)} did not answer in time: check it is up, or try another"


def _insufficient(error: InsufficientBalance) -> str:
    amounts = f" (needs {error.required}, holds {error.available})"
    return f"{error}{amounts if error.required is not None else ''}: fund the account first"


def _rejected(error: MessageRejected) -> str:
    return f"{error}: the node will not accept it; fix the content and send a new message"


def _forgotten(error: ForgottenMessage) -> str:
    return f"{error}: its content is erased and cannot be read any more"


def _not_found(error: NotFound) -> str:
    return f"{error}: check the hash or address, and that --api-url is the node that holds it"


def _mismatch(error: HashMismatch) -> str:
    return f"{error}: nothing was kept; the node serves a corrupt copy, try another --api-url"


def _account(error: AccountError) -> str:
    return (
        f"{error}: create an account with `alephnet account create`, "
        "or choose one with --account / ALEPHNET_ACCOUNT (see `alephnet account list`)"
    )


def _not_authorized(error: NotAuthorized) -> str:
    return (
        f"{error}: only the VM's owner (or an address it authorized) may do this; "
        "sign with the owner's key: --account NAME"
    )


def _invalid_response(error: InvalidResponse) -> str:
    return f"{error}: is --api-url the address of an Aleph node?"


def _response(error: ResponseError) -> str:
    return f"the node answered with an error ({error.status_code}): {error}; see the node's log"


# First match wins: subclasses come before their bases.
EXPLANATIONS: list[tuple[type[AlephError], Callable[[Any], str]]] = [
    (NodeUnreachable, _unreachable),
    (RequestTimeout, _timeout),
    (InsufficientBalance, _insufficient),
    (MessageRejected, _rejected),
    (ForgottenMessage, _forgotten),
    (NotFound, _not_found),
    (NotAuthorized, _not_authorized),
    (HashMismatch, _mismatch),
    (AccountError, _account),
    (InvalidResponse, _invalid_response),
    (ResponseError, _response),
]


def explain(error: AlephError) -> str:
    """What went wrong and what to do about it, in one line."""
    for error_class, explanation in EXPLANATIONS:
        if isinstance(error, error_class):
            return explanation(error)
    return str(error)


def fail(text: str) -> typer.Exit:
    """Print `text` as an error on stderr; the caller raises the returned exit (status 1)."""
    typer.echo(f"error: {text}", err=True)
    return typer.Exit(FAILURE)


class AlephErrorGroup(TyperGroup):
    """The root command group: catches what any subcommand raises, so no command needs its own
    try/except for network, account or protocol failures."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlephError as error:
            raise fail(explain(error)) from error
