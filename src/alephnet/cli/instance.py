"""`alephnet instance ...`: whole VMs booted from a disk image, published on a CCN and reached
over SSH on the CRN that runs them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

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
from alephnet.sdk import DEFAULT_CRN_URL, DEFAULT_ROOTFS_SIZE_MIB, Execution, Message

app = typer.Typer(
    help="Create, list and delete instances (VMs); ssh, logs, stop, reboot, erase on their CRN.",
    no_args_is_help=True,
)
INSTANCE = "INSTANCE"
COLUMNS = ["hash", "name", "rootfs", "disk_mib", "memory", "vcpus"]
"""What `list` shows of each."""
SSH_PORT = "22"
DEFAULT_PUBLIC_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")


@app.command("create")
def create(
    ctx: typer.Context,
    rootfs: Annotated[
        str,
        typer.Option(help="Item hash of the STORE message of the disk image to boot."),
    ],
    rootfs_size: Annotated[
        int, typer.Option(min=1, help="Size of the VM's disk in MiB (at least the image's).")
    ] = DEFAULT_ROOTFS_SIZE_MIB,
    memory: Annotated[int, typer.Option(min=1, help="Memory in MiB.")] = 2048,
    vcpus: Annotated[int, typer.Option(min=1, help="Virtual CPUs.")] = 1,
    ssh_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--ssh-key",
            help="A public key, or a file holding one (default: ~/.ssh/id_*.pub if any).",
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="An environment variable, KEY=VALUE.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name to find it by.")] = None,
    crn_url: Annotated[
        str | None,
        typer.Option(
            "--crn",
            "--crn-url",
            help="A CRN (micro-VM executor) to boot it on once published: "
            "its /control/allocation/notify is called.",
        ),
    ] = None,
    channel: ChannelOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Publish an INSTANCE message: a VM booted from a copy of the image, paid by holding.
    With --crn, that CRN boots it, and the command says how to log in."""
    keys = _public_keys(ssh_keys)
    variables = parse_env(env)
    published = cli_context(ctx).write(
        lambda client: client.create_instance(
            rootfs,
            rootfs_size=rootfs_size,
            memory=memory,
            vcpus=vcpus,
            ssh_keys=keys,
            env=variables,
            metadata={"name": name} if name else None,
            channel=channel,
        )
    )
    output.print_published(published, as_json, quiet)
    if crn_url is not None:
        _boot(ctx, published.item_hash, crn_url, quiet or as_json)


@app.command("start")
def start(
    ctx: typer.Context,
    item_hash: HashArgument,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
    quiet: QuietOption = False,
) -> None:
    """Boot a published instance on the CRN (its notify call, open to anyone as on Aleph);
    it then runs there until its owner stops it."""
    _boot(ctx, item_hash, crn_url, quiet)


def _boot(ctx: typer.Context, item_hash: str, crn_url: str, quiet: bool) -> None:
    on_crn(ctx, crn_url, lambda client: client.notify(item_hash))
    if not quiet:
        output.console.print(
            f"booting on {crn_url}; once up (`alephnet instance logs {item_hash} --crn "
            f"{crn_url}` shows its console), log in with: "
            f"alephnet instance ssh {item_hash} --crn {crn_url}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


def _public_keys(given: list[str] | None) -> list[str]:
    """Each `--ssh-key` read from its file when it names one; none given: the user's own."""
    if given:
        return [_read_key(value) if Path(value).is_file() else value for value in given]
    ssh_folder = Path.home() / ".ssh"
    return [
        _read_key(str(ssh_folder / name))
        for name in DEFAULT_PUBLIC_KEYS
        if (ssh_folder / name).is_file()
    ][:1]


def _read_key(path: str) -> str:
    return Path(path).read_text().strip()


@app.command("list")
def list_instances(
    ctx: typer.Context, address: AddressOption = None, as_json: JsonOption = False
) -> None:
    """List an address's instances (yours by default), newest first."""
    list_vms(ctx, INSTANCE, address, as_json, _record, COLUMNS)


@app.command("show")
def show(ctx: typer.Context, item_hash: HashArgument, as_json: JsonOption = False) -> None:
    """Show an instance: its disk image, size, resources and SSH keys."""
    show_vm(ctx, INSTANCE, item_hash, as_json, _record)


@app.command("delete")
def delete(
    ctx: typer.Context,
    item_hash: HashArgument,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Forget the INSTANCE message: CRNs stop the VM and erase its disk."""
    context = cli_context(ctx)
    context.read(lambda client: vm_message(client, INSTANCE, item_hash))
    published = context.write(lambda client: client.forget([item_hash], reason=reason))
    output.print_published(published, as_json, quiet)


def _record(message: Message) -> dict[str, Any]:
    content: dict[str, Any] = message.content if isinstance(message.content, dict) else {}
    rootfs = content.get("rootfs") or {}
    return {
        "hash": message.item_hash,
        "name": (content.get("metadata") or {}).get("name"),
        "rootfs": (rootfs.get("parent") or {}).get("ref"),
        "disk_mib": rootfs.get("size_mib"),
        "memory": resources(content).get("memory"),
        "vcpus": resources(content).get("vcpus"),
        "ssh_keys": len(content.get("authorized_keys") or []),
        "time": message.time,
    }


@app.command("ssh")
def ssh(
    ctx: typer.Context,
    item_hash: HashArgument,
    user: Annotated[str, typer.Option(help="The user to log in as.")] = "root",
    print_only: Annotated[
        bool, typer.Option("--print", help="Print the ssh command instead of running it.")
    ] = False,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
) -> None:
    """Log into the instance with ssh, through the port the CRN maps to its port 22."""
    execution = on_crn(ctx, crn_url, lambda client: client.execution(item_hash))
    command = ssh_command(execution, crn_url, user)
    if print_only:
        output.console.print(" ".join(command), highlight=False, markup=False)
        return
    if shutil.which("ssh") is None:
        raise fail(f"no ssh client on this machine; the command is: {' '.join(command)}")
    os.execvp(command[0], command)


def ssh_command(execution: Execution, crn_url: str, user: str) -> list[str]:
    mapped = execution.networking.mapped_ports.get(SSH_PORT)
    if mapped is None or not mapped.tcp:
        raise fail(
            f"the CRN at {crn_url} maps no port to SSH (22) of {execution.item_hash}"
            f"{'' if execution.running else ' (it is not running)'}: check that the instance "
            "runs there (`alephnet instance show`), or ask its operator"
        )
    host = urlsplit(crn_url).hostname or "localhost"
    return ["ssh", "-p", str(mapped.host), f"{user}@{host}"]


@app.command("logs")
def logs(
    ctx: typer.Context,
    item_hash: HashArgument,
    crn_url: CrnUrlOption = DEFAULT_CRN_URL,
    as_json: JsonOption = False,
) -> None:
    """Print the instance's console output on the CRN that runs it; only its owner may."""
    show_logs(ctx, crn_url, item_hash, as_json)


@app.command("stop")
def stop(
    ctx: typer.Context, item_hash: HashArgument, crn_url: CrnUrlOption = DEFAULT_CRN_URL
) -> None:
    """Stop the instance's VM on the CRN; its disk is kept. Only its owner may."""
    control(ctx, crn_url, item_hash, "stop")


@app.command("reboot")
def reboot(
    ctx: typer.Context, item_hash: HashArgument, crn_url: CrnUrlOption = DEFAULT_CRN_URL
) -> None:
    """Restart the instance's VM on the CRN, with its disk as it is. Only its owner may."""
    control(ctx, crn_url, item_hash, "reboot")


@app.command("erase")
def erase(
    ctx: typer.Context, item_hash: HashArgument, crn_url: CrnUrlOption = DEFAULT_CRN_URL
) -> None:
    """Stop the instance's VM and delete its disk and volumes on this CRN (the INSTANCE message
    stays: `instance delete` forgets it). Only its owner may."""
    control(ctx, crn_url, item_hash, "erase")
