"""`alephnet account ...`: keys to sign messages with, kept in $ALEPHNET_HOME/keys.

Private keys never travel through argv when avoidable (a mnemonic is read from stdin or a
prompt) and are never printed unless asked for with --private-key.
"""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer

from alephnet.cli import output
from alephnet.cli.context import CliContext, cli_context
from alephnet.cli.options import JsonOption
from alephnet.sdk.accounts import (
    Account,
    StoredKey,
    account_from_mnemonic,
    generate_account,
    import_account,
)

app = typer.Typer(
    help="Create, import and inspect the keys that sign your messages.", no_args_is_help=True
)


class ChainName(enum.StrEnum):
    ETH = "ETH"
    SOL = "SOL"
    TEZOS = "TEZOS"


ChainOption = Annotated[
    ChainName,
    typer.Option(case_sensitive=False, help="The chain the key signs for (its address format)."),
]
NameOption = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", help="The key's name in the key store (default: the chain, lowercased)."
    ),
]
DefaultOption = Annotated[
    bool,
    typer.Option("--default", help="Make it the default account (the first key always is)."),
]


@app.command("create")
def create(
    ctx: typer.Context,
    chain: ChainOption = ChainName.ETH,
    name: NameOption = None,
    make_default: DefaultOption = False,
    as_json: JsonOption = False,
) -> None:
    """Generate a new key and save it in the key store (file readable by you only)."""
    _save(
        cli_context(ctx),
        generate_account(chain.value),
        name or chain.lower(),
        make_default,
        as_json,
    )


@app.command("import")
def import_key(
    ctx: typer.Context,
    private_key: Annotated[
        str | None,
        typer.Argument(
            help="The private key: hex (ETH, TEZOS) or hex / base58 (SOL). Omit with --mnemonic."
        ),
    ] = None,
    mnemonic: Annotated[
        bool,
        typer.Option(
            "--mnemonic",
            help="Derive the key from a BIP-39 phrase (ETH), read from stdin or a prompt, "
            "never from the command line, where other users and the shell history could see it.",
        ),
    ] = False,
    chain: ChainOption = ChainName.ETH,
    name: NameOption = None,
    make_default: DefaultOption = False,
    as_json: JsonOption = False,
) -> None:
    """Save an existing key in the key store."""
    if (private_key is None) == (not mnemonic):
        raise typer.BadParameter("give either a PRIVATE_KEY or --mnemonic")
    account = (
        account_from_mnemonic(_read_secret("mnemonic phrase"), chain.value)
        if private_key is None
        else import_account(private_key, chain.value)
    )
    _save(cli_context(ctx), account, name or chain.lower(), make_default, as_json)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="The key's name [--account, else the default].")
    ] = None,
    private_key: Annotated[
        bool, typer.Option("--private-key", help="Also print the private key (hex).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show an account's address, chain and key file."""
    context = cli_context(ctx)
    if name is not None:
        context = CliContext(context.api_url, name)
    account = context.account()
    record: dict[str, str] = {
        "address": account.address,
        "chain": account.chain,
        "key_file": str(account.path),
    }
    if private_key:
        record["private_key"] = account.private_key.hex()
    output.emit(record, as_json, output.print_fields)


@app.command("list")
def list_keys(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the keys in the key store; the default one is marked with *."""
    output.emit(cli_context(ctx).keys.list(), as_json, _print_keys)


@app.command("balance")
def balance(
    ctx: typer.Context,
    address: Annotated[
        str | None, typer.Argument(help="Any address (default: the current account's).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show an address's token balance as the node counts it."""
    context = cli_context(ctx)
    result = context.read(lambda client: client.get_balance(context.address(address)))
    output.emit(result, as_json, lambda value: output.print_fields(output.to_jsonable(value)))


def _save(
    context: CliContext, account: Account, name: str, make_default: bool, as_json: bool
) -> None:
    keys = context.keys
    path = keys.save(account, name)
    if make_default or keys.default is None:
        keys.default = name
    record = {"name": name, "address": account.address, "chain": account.chain, "key_file": path}
    output.emit(record, as_json, lambda value: output.print_fields(value, title="saved key"))


def _read_secret(what: str) -> str:
    """A secret from piped stdin, else a hidden prompt."""
    if sys.stdin.isatty():
        return str(typer.prompt(what, hide_input=True))
    return sys.stdin.read().strip()


def _print_keys(keys: list[StoredKey]) -> None:
    if not keys:
        output.console.print("no keys yet: create one with `alephnet account create`")
        return
    rows = [("*" if key.is_default else "", key.name, key.chain, key.address) for key in keys]
    output.print_table(rows, ["", "name", "chain", "address"])
