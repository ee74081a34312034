"""What the root options decide for every command: which node, which account.

The root callback builds one `CliContext` and click hands it down to every subcommand
(`ctx.obj`); commands read it with `cli_context(ctx)` instead of each re-reading options or
the environment.

The root callback builds it for every command, `alephnet GROUP --help` included, so it holds
options only: the SDK (keys, clients) is reached through the lazy `alephnet.sdk` package when a
command asks for it, and the commands that never sign or connect do not pay for its imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import typer

from alephnet import sdk
from alephnet.cli.errors import fail

if TYPE_CHECKING:
    from alephnet.sdk import Account, AlephClient, AuthenticatedAlephClient, KeyStore

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound="AlephClient")

DEFAULT_API_URL = "http://127.0.0.1:4024"
"""The node `./run devnet` starts."""


@dataclass(frozen=True, slots=True)
class CliContext:
    api_url: str
    account_name: str | None

    @property
    def keys(self) -> KeyStore:
        """The key store of $ALEPHNET_HOME (a folder name: nothing is read until asked)."""
        return sdk.KeyStore()

    def account(self) -> Account:
        """The account to sign with: --account / ALEPHNET_ACCOUNT, else the key store's
        default. Missing keys get a message saying how to make one."""
        keys = self.keys
        name = self.account_name or keys.default
        if name is None:
            raise fail(
                f"no account to sign with (no default key in {keys.root}): create one with "
                "`alephnet account create`, or pass --account NAME"
            )
        if not keys.path_of(name).exists():
            raise fail(
                f"no account named {name!r} in {keys.root}: see `alephnet account list`, "
                "or create it with `alephnet account create --name NAME`"
            )
        return keys.load(name)

    def address(self, address: str | None) -> str:
        """`address` when given, else the current account's: reads default to "mine"."""
        return address if address is not None else self.account().address

    def read(self, call: Callable[[AlephClient], Awaitable[T]]) -> T:
        """Run `call` with a client of the node, opened and closed around it."""
        return asyncio.run(_with_client(sdk.AlephClient(self.api_url), call))

    def write(self, call: Callable[[AuthenticatedAlephClient], Awaitable[T]]) -> T:
        """Like `read`, with a client that signs as the current account."""
        client = sdk.AuthenticatedAlephClient(self.account(), api_url=self.api_url)
        return asyncio.run(_with_client(client, call))


async def _with_client(client: ClientT, call: Callable[[ClientT], Awaitable[T]]) -> T:
    async with client:
        return await call(client)


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_object(CliContext)
    if obj is None:  # only when a command group is invoked without the root app
        raise RuntimeError("alephnet commands run under the root `alephnet` app")
    return obj
