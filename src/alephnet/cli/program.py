"""`alephnet program ...`: programs (ASGI apps or executables) published on a CCN and run by a
CRN when called."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from alephnet.cli import output
from alephnet.cli.compute import (
    CrnUrlOption,
    HashArgument,
    control,
    list_vms,
    on_crn,
    parse_env,
    resources,
    show_logs,
    show_vm,
    vm_message,
)
from alephnet.cli.context import cli_context
from alephnet.cli.errors import fail
from alephnet.cli.options import AddressOption, ChannelOption, JsonOption, QuietOption, ReasonOption
from alephnet.sdk import (
    DEFAULT_CRN_URL,
    DEFAULT_RUNTIME,
    AlephError,
    AuthenticatedAlephClient,
    CrnClient,
    ForgottenMessage,
    Message,
    MessageFilters,
    NotFound,
    ProgramPublished,
    Published,
)
from alephnet.sdk._program import code_archive

app = typer.Typer(
    help="Deploy, update and delete programs; call them on a CRN, read their logs, stop them.",
    no_args_is_help=True,
)
PROGRAM = "PROGRAM"
COLUMNS = ["hash", "name", "entrypoint", "memory", "vcpus", "persistent"]
"""What `list` shows of each."""
CodeArgument = Annotated[
    Path, typer.Argument(exists=True, help="A folder or a file (zipped), or a zip.")
]
RUNTIME_QUESTION_TIMEOUT = 5.0


@app.command("upload")
def upload(
    ctx: typer.Context,
    path: CodeArgument,
    entrypoint: Annotated[
        str,
        typer.Option("--entrypoint", "-e", help="module:app for an ASGI app, else an executable."),
    ] = "main:app",
    runtime: Annotated[
        str | None,
        typer.Option(help="STORE hash of the runtime; default: the one the CRN at --crn-url runs."),
    ] = None,
    memory: Annotated[int, typer.Option(min=1, help="Memory in MiB.")] = 256,
    vcpus: Annotated[int, typer.Option(min=1, help="Virtual CPUs.")] = 1,
    timeout_seconds: Annotated[
        int, typer.Option("--timeout-seconds", min=1, help="Longest time a request may take.")
    ] = 30,
    persistent: Annotated[
        bool, typer.Option(help="Keep it running, instead of starting it on each call.")
    ] = False,
    internet: Annotated[bool, typer.Option(help="Give it access to the internet.")] = True,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="An environment variable, KEY=VALUE.")
    ] = None,
    channel: ChannelOption = None,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Zip PATH, upload it (STORE) and publish a PROGRAM running it.

    Prints the program's hash and the URL that calls it on the CRN.
    """
    variables = parse_env(env)
    chosen_runtime = runtime or _crn_runtime(crn_url) or DEFAULT_RUNTIME
    with output.upload_bar(f"uploading {path.name}") as advance:

        async def publish(client: AuthenticatedAlephClient) -> ProgramPublished:
            await _check_runtime(client, chosen_runtime, runtime is None)
            return await client.create_program(
                path,
                entrypoint,
                runtime=chosen_runtime,
                memory=memory,
                vcpus=vcpus,
                timeout_seconds=timeout_seconds,
                persistent=persistent,
                internet=internet,
                env=variables,
                metadata={"name": path.name},
                channel=channel,
                progress=advance,
            )

        published = cli_context(ctx).write(publish)
    if quiet and not as_json:
        typer.echo(published.item_hash)
        return
    url = f"{crn_url.rstrip('/')}/vm/{published.item_hash}"
    output.emit({**output.to_jsonable(published), "url": url}, as_json, _print_uploaded)


def _crn_runtime(crn_url: str) -> str | None:
    """The runtime the CRN runs programs with, if it is up and says."""

    async def ask() -> str | None:
        async with CrnClient(crn_url, timeout=RUNTIME_QUESTION_TIMEOUT) as client:
            return (await client.config()).runtime_ref

    try:
        return asyncio.run(ask())
    except AlephError:
        return None


async def _check_runtime(client: AuthenticatedAlephClient, runtime: str, guessed: bool) -> None:
    """A runtime the CCN does not have would leave the program pending: say so at once."""
    try:
        await client.get_message(runtime)
    except NotFound:
        hint = " (the official one: no CRN at --crn-url said which it runs)" if guessed else ""
        raise fail(
            f"the runtime {runtime} is not on the node at {client.api_url}{hint}: "
            "start a CRN with `alephnet crn run` (it publishes its runtime), "
            "or pass --runtime STORE_HASH"
        ) from None


def _print_uploaded(record: dict[str, Any]) -> None:
    output.console.print(
        f"PROGRAM {record['item_hash']} {record['status']}\n"
        f"code    {record['code']['item_hash']}\n"
        f"call it: alephnet program call {record['item_hash']}   (or GET {record['url']})",
        highlight=False,
    )


@app.command("update")
def update(
    ctx: typer.Context,
    item_hash: HashArgument,
    path: CodeArgument,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Replace a program's code; its hash, settings and URL stay the same.

    Uploads PATH with a STORE that updates the program's code file (its `ref` is the code's
    STORE), as the official CLI does: CRNs run the newest version because the program's code is
    `use_latest`. A VM already running keeps the old code until it stops: `alephnet program stop`.
    """
    archive = code_archive(path)
    with output.upload_bar(f"uploading {path.name}") as advance:

        async def publish(client: AuthenticatedAlephClient) -> Published:
            code = await _updatable_code(client, item_hash)
            engine = code.content.get("item_type") if isinstance(code.content, dict) else None
            return await client.create_store(
                archive,
                ref=code.item_hash,
                storage_engine="ipfs" if engine == "ipfs" else "storage",
                metadata={"name": path.name},
                channel=code.channel,
                progress=advance,
            )

        published = cli_context(ctx).write(publish)
    output.print_published(published, as_json, quiet)


async def _updatable_code(client: AuthenticatedAlephClient, item_hash: str) -> Message:
    """The STORE of the program's code, once it is sure an update by this account reaches it."""
    code = _code(await vm_message(client, PROGRAM, item_hash))
    if not code.get("use_latest"):
        raise fail(
            f"the program {item_hash} pins its code (code.use_latest is false), so an update "
            "would never run: upload a new program instead (`alephnet program upload`)"
        )
    store = (await client.get_message(str(code.get("ref")))).message
    if store is None or store.type != "STORE":
        raise NotFound(f"no STORE message {code.get('ref')} (the code of {item_hash})")
    if not _same_address(store.sender, client.address):
        raise fail(
            f"the code of {item_hash} was stored by {store.sender}: only that account may "
            "update it (--account NAME)"
        )
    return store


@app.command("delete")
def delete(
    ctx: typer.Context,
    item_hash: HashArgument,
    reason: ReasonOption = None,
    keep_code: Annotated[
        bool, typer.Option("--keep-code", help="Forget the program only, not its code.")
    ] = False,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Forget the program (CRNs stop running it), then its code: the code's STORE and every
    update of it. Code stored by another account is left alone.

    Two FORGET messages, as the official CLI sends: a node refuses to forget a file that a live
    VM mounts, so the program goes first. --json prints both (`code` is null when kept)."""

    async def forget(client: AuthenticatedAlephClient) -> dict[str, Published | None]:
        program = await vm_message(client, PROGRAM, item_hash)
        code = [] if keep_code else await _own_code_versions(client, program)
        forgotten = await client.forget([item_hash], reason=reason)
        return {
            "program": forgotten,
            "code": await client.forget(code, reason=reason) if code else None,
        }

    forgotten = cli_context(ctx).write(forget)
    for published in forgotten.values():
        if published is not None and (quiet or not as_json):
            output.print_published(published, as_json=False, quiet=quiet)
    if as_json:
        output.print_json(forgotten)


async def _own_code_versions(client: AuthenticatedAlephClient, program: Message) -> list[str]:
    """The program's code STORE and its updates (`program update`), if this account stored it."""
    ref = str(_code(program).get("ref"))
    try:
        store = (await client.get_message(ref)).message
    except ForgottenMessage:
        return []
    if store is None or not _same_address(store.sender, client.address):
        return []
    filters = MessageFilters(message_types=["STORE"], refs=[ref], addresses=[client.address])
    return [ref, *[update.item_hash async for update in client.iter_messages(**filters)]]


def _code(program: Message) -> dict[str, Any]:
    content: dict[str, Any] = program.content if isinstance(program.content, dict) else {}
    code = content.get("code")
    return code if isinstance(code, dict) else {}


def _same_address(first: str, second: str) -> bool:
    """ETH addresses compare without their checksum case."""
    return first.lower() == second.lower()


@app.command("list")
def list_programs(
    ctx: typer.Context, address: AddressOption = None, as_json: JsonOption = False
) -> None:
    """List an address's programs (yours by default), newest first."""
    list_vms(ctx, PROGRAM, address, as_json, _record, COLUMNS)


@app.command("show")
def show(ctx: typer.Context, item_hash: HashArgument, as_json: JsonOption = False) -> None:
    """Show a program: code, runtime, resources and triggers."""
    show_vm(ctx, PROGRAM, item_hash, as_json, _record)


def _record(message: Message) -> dict[str, Any]:
    content: dict[str, Any] = message.content if isinstance(message.content, dict) else {}
    code = content.get("code") or {}
    trigger = content.get("on") or {}
    return {
        "hash": message.item_hash,
        "name": (content.get("metadata") or {}).get("name"),
        "entrypoint": code.get("entrypoint"),
        "code": code.get("ref"),
        "runtime": (content.get("runtime") or {}).get("ref"),
        "memory": resources(content).get("memory"),
        "vcpus": resources(content).get("vcpus"),
        "persistent": bool(trigger.get("persistent")),
        "time": message.time,
    }


@app.command("call")
def call(
    ctx: typer.Context,
    item_hash: HashArgument,
    path: Annotated[str, typer.Argument(help="The path to request.")] = "/",
    method: Annotated[str, typer.Option("--method", "-X", help="The HTTP method.")] = "GET",
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="The request body; @FILE reads a file.")
    ] = None,
    headers: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="A request header, 'Name: value'.")
    ] = None,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
) -> None:
    """Call the program over HTTP on the CRN (it starts on the first call) and print its
    answer's body. Exits with status 1 if the program answers with an error status."""
    body = _read_data(data)
    answer = on_crn(
        ctx,
        crn_url,
        lambda client: client.call(
            item_hash, path, method=method.upper(), content=body, headers=_headers(headers)
        ),
    )
    sys.stdout.buffer.write(answer.content)
    if answer.content and not answer.content.endswith(b"\n") and sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
    if answer.status_code >= 400:
        raise fail(
            f"the call answered {answer.status_code} {answer.reason_phrase} (body above), from "
            f"the program or from the CRN if it could not run it: "
            f"`alephnet program logs {item_hash}` shows what the program printed"
        )


def _read_data(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        try:
            return Path(data[1:]).read_bytes()
        except OSError as error:
            message = f"cannot read {data[1:]}: {error}"
            raise typer.BadParameter(message, param_hint="--data") from error
    return data.encode()


def _headers(values: list[str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values or ():
        name, separator, content = value.partition(":")
        if not separator or not name.strip():
            raise typer.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


@app.command("logs")
def logs(
    ctx: typer.Context,
    item_hash: HashArgument,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
    as_json: JsonOption = False,
) -> None:
    """Print what the program wrote (stdout and stderr) on the CRN; only its owner may."""
    show_logs(ctx, crn_url, item_hash, as_json)


@app.command("stop")
def stop(
    ctx: typer.Context,
    item_hash: HashArgument,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
) -> None:
    """Stop the program's VM on the CRN (the next call starts it again); only its owner may."""
    control(ctx, crn_url, item_hash, "stop")
