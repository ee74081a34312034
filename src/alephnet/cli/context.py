"""What the root options decide for every command: which node, which account.

The root callback builds one `CliContext` and click hands it down to every subcommand
(`ctx.obj`); commands read it with `cli_context(ctx)` instead of each re-reading options or
the environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import typer

from alephnet.cli.errors import fail
from alephnet.sdk import Account, AlephClient, AuthenticatedAlephClient, KeyStore

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=AlephClient)

DEFAULT_API_URL = "http://127.0.0.1:4024"
"""The node `./run devnet` starts."""


@dataclass(frozen=True, slots=True)
class CliContext:
    api_url: str
    account_name: str | None
    keys: KeyStore = field(default_factory=KeyStore)

    def account(self) -> Account:
        """The account to sign with: --account / ALEPHNET_ACCOUNT, else the key store's
        default. Missing keys get a message saying how to make one."""
        name = self.account_name or self.keys.default
        if name is None:
            raise fail(
                f"no account to sign with (no default key in {self.keys.root}): create one with "
                "`alephnet account create`, or pass --account NAME"
            )
        if not self.keys.path_of(name).exists():
            raise fail(
                f"no account named {name!r} in {self.keys.root}: see `alephnet account list`, "
                "or create it with `alephnet account create --name NAME`"
            )
        return self.keys.load(name)

    def address(self, address: str | None) -> str:
        """`address` when given, else the current account's: reads default to "mine"."""
        return address if address is not None else self.account().address

    def read(self, call: Callable[[AlephClient], Awaitable[T]]) -> T:
        """Run `call` with a client of the node, opened and closed around it."""
        return asyncio.run(_with_client(AlephClient(self.api_url), call))

    def write(self, call: Callable[[AuthenticatedAlephClient], Awaitable[T]]) -> T:
        """Like `read`, with a client that signs as the current account."""
        client = AuthenticatedAlephClient(self.account(), api_url=self.api_url)
        return asyncio.run(_with_client(client, call))


async def _with_client(client: ClientT, call: Callable[[ClientT], Awaitable[T]]) -> T:
    async with client:
        return await call(client)


def cli_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_object(CliContext)
    if obj is None:  # only when a command group is invoked without the root app
        raise RuntimeError("alephnet commands run under the root `alephnet` app")
    return obj
