"""`devnet up`: start the nodes, show them live, stop them all on Ctrl-C or SIGTERM.

The supervisor is the process that owns the nodes. The nodes run in sessions of their own, so
a Ctrl-C in the terminal reaches the supervisor only: it then stops them the way `devnet down`
does (SIGTERM, up to 30 s, SIGKILL), so a node always gets its graceful shutdown and is
stopped exactly once. Whatever ends the supervisor's wait (a signal, a node that fails to
start, a bug) goes through the same `finally`: no node is left behind and the state file goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

from rich.console import Console
from rich.live import Live

from alephnet.devnet.control import DevnetError, refuse_if_running
from alephnet.devnet.instance_image import publish_instance_image
from alephnet.devnet.layout import CrnLayout, DevnetLayout, NodeLayout
from alephnet.devnet.processes import (
    CcnProcess,
    CrnProcess,
    NodeStartError,
    ProcessId,
    stop_processes,
)
from alephnet.devnet.state import (
    DevnetState,
    NodeRecord,
    ProcessRecord,
    WalletRecord,
    remove_state,
    write_state,
)
from alephnet.devnet.status import probe_crns, probe_nodes, status_line
from alephnet.devnet.wallet import ensure_wallet
from alephnet.sdk.accounts import Account

REFRESH_SECONDS = 1.0
NODE_LOG_LEVEL = "INFO"


def run_devnet(layout: DevnetLayout, console: Console) -> None:
    """Start the devnet and keep it running until Ctrl-C or SIGTERM; return once it is
    stopped. Raises `DevnetError` when it cannot start (nothing is left running then)."""
    refuse_if_running(layout)
    shared = layout.shared_ports()
    if shared:
        raise DevnetError(
            f"ports {', '.join(map(str, shared))} would serve a CCN and a CRN: "
            "move the CRNs with --crn-base-port"
        )
    busy = layout.busy_ports()
    if busy:
        raise DevnetError(
            f"ports {', '.join(map(str, busy))} are in use: stop what listens there, "
            "or choose other ports with --base-port"
        )
    wallet = ensure_wallet(layout.keys_dir)
    layout.write_configs()
    nodes = [
        CcnProcess(node.data_dir, port=node.port, config=node.config_file, log_level=NODE_LOG_LEVEL)
        for node in layout.nodes
    ]
    crns = [
        CrnProcess(
            crn.data_dir,
            crn.ccn_url,
            port=crn.port,
            executor=layout.crn_executor,
            log_level=NODE_LOG_LEVEL,
        )
        for crn in layout.crn_nodes
    ]
    try:
        for node in [*nodes, *crns]:
            node.launch()
        write_state(layout.state_file, _state(layout, nodes, crns, wallet))
        compute = f" and {len(crns)} CRNs" if crns else ""
        console.print(f"starting {len(nodes)} CCNs{compute}, logs in {layout.root}/*.log ...")
        asyncio.run(_serve(layout, [*nodes, *crns], wallet, console))
    finally:
        _stop(layout, [*nodes, *crns], console)


def _state(
    layout: DevnetLayout,
    nodes: Sequence[CcnProcess],
    crns: Sequence[CrnProcess],
    wallet: Account,
) -> DevnetState:
    assert wallet.path is not None, "the wallet was loaded from its key file"
    return DevnetState(
        supervisor=ProcessRecord.of(ProcessId.of(os.getpid())),
        nodes=_records(layout.nodes, nodes),
        crns=_records(layout.crn_nodes, crns),
        wallet=WalletRecord(address=wallet.address, key_file=wallet.path),
    )


def _records(
    layouts: Sequence[NodeLayout | CrnLayout], processes: Sequence[CcnProcess]
) -> list[NodeRecord]:
    """CCNs and CRNs are recorded alike: `status` and `down` only need where each one listens,
    keeps its data and logs, and which process (pid and start time) is it."""
    return [
        NodeRecord(
            name=node.name,
            url=node.url,
            port=node.port,
            process=ProcessRecord.of(process.process_id),
            data_dir=node.data_dir,
            log_file=node.log_file,
        )
        for node, process in zip(layouts, processes, strict=True)
    ]


async def _serve(
    layout: DevnetLayout, nodes: Sequence[CcnProcess], wallet: Account, console: Console
) -> None:
    """Wait for every node, print where things are, then show the live status line. A stop
    signal cancels this task, wherever it waits (start-up included)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await asyncio.gather(*(node.wait_until_up() for node in nodes))
        _print_ready(layout, wallet, console)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_show_status(layout, console))
            tasks.create_task(_announce_instance_image(layout, wallet, console))
    except asyncio.CancelledError:
        return  # asked to stop: `run_devnet` stops the nodes
    except NodeStartError as error:
        raise DevnetError(f"a node did not start: {error}") from error


def _print_ready(layout: DevnetLayout, wallet: Account, console: Console) -> None:
    """Where everything is, one fact per line, never wrapped: URLs and paths get copied."""
    lines = [
        f"alephnet devnet: {layout.ccns} CCNs and {layout.crns} CRNs up "
        f"(state in {layout.state_file})",
        *(
            f"  {node.name}  API {node.url}  docs {node.url}/docs  log {node.log_file}"
            for node in layout.nodes
        ),
        *(
            f"  {crn.name}  runs programs from {crn.ccn_url} at {crn.url}/vm/HASH/  "
            f"log {crn.log_file}"
            for crn in layout.crn_nodes
        ),
        f"dev wallet {wallet.address} (funded: nodes count every address as funded until "
        "payments land)",
        f"  key file {wallet.path}",
        f"  sign with it: ALEPHNET_HOME={layout.root} alephnet post send --content '{{\"a\": 1}}'",
        f"stop with Ctrl-C, or from another terminal: alephnet devnet down --dir {layout.root}",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


async def _announce_instance_image(layout: DevnetLayout, wallet: Account, console: Console) -> None:
    """Publish the instance base image (when built) and say how to boot an instance on it."""
    if not layout.crns:
        return
    crn_url = layout.crn_nodes[0].url
    if layout.crn_executor != "microvm":
        console.print(
            "instances: this devnet's CRNs run the sandbox executor, which boots no instance; "
            "start it with --crn-executor microvm for them",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return
    try:
        image = await publish_instance_image(layout.nodes[0].url, wallet, layout.root)
    except (OSError, RuntimeError) as error:
        console.print(f"instances: publishing the base image failed: {error}", markup=False)
        return
    if image is None:
        console.print(
            "instances: the instance base image is not built (scripts/build-crn-runtime)",
            highlight=False,
            markup=False,
        )
        return
    console.print(
        f"instance image {image}: alephnet instance create --rootfs {image} --crn {crn_url}, "
        f"then alephnet instance ssh HASH --crn {crn_url}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


async def _show_status(layout: DevnetLayout, console: Console) -> None:
    """Refresh the one-line status every second, until cancelled."""
    nodes, crns = layout.nodes, layout.crn_nodes
    try:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                statuses = await probe_nodes(nodes) + await probe_crns(crns)
                live.update(status_line(statuses), refresh=True)
                await asyncio.sleep(REFRESH_SECONDS)
    finally:
        if not console.is_terminal:
            console.line()  # Rich ends the last status line on terminals only


def _stop(layout: DevnetLayout, nodes: Sequence[CcnProcess], console: Console) -> None:
    """Stop every node (SIGTERM, then SIGKILL after the timeout) and remove the state file.
    Signals are ignored meanwhile: a second Ctrl-C must not leave nodes half-stopped."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    running = [node.process_id for node in nodes if node.running]
    if running:
        console.print(f"stopping {len(running)} nodes (at most 30 s) ...")
    killed = stop_processes(running)
    for node in nodes:
        node.reap()
    remove_state(layout.state_file)
    if killed:
        console.print(f"killed nodes that did not stop in time: pids {killed}")
    console.print("devnet stopped")
