"""A devnet seen from any terminal, through its state file: is it running, stop it."""

from __future__ import annotations

from dataclasses import dataclass

from alephnet.devnet.layout import DevnetLayout
from alephnet.devnet.processes import STOP_TIMEOUT, stop_processes
from alephnet.devnet.state import DevnetState, read_state, remove_state


class DevnetError(Exception):
    """A devnet command cannot do what was asked: the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """What `stop_devnet` did: the processes it found running, those it had to SIGKILL."""

    running: list[int]
    killed: list[int]


def live_state(layout: DevnetLayout) -> DevnetState | None:
    """The state of the devnet running from this folder, or None. A state file whose
    processes are all gone (the devnet crashed, or the machine rebooted) is removed."""
    state = read_state(layout.state_file)
    if state is not None and not state.running():
        remove_state(layout.state_file)
        return None
    return state


def refuse_if_running(layout: DevnetLayout) -> None:
    state = live_state(layout)
    if state is not None:
        pids = ", ".join(str(process.pid) for process in state.running())
        raise DevnetError(
            f"a devnet from {layout.root} is already running (pids {pids}): see it with "
            f"`alephnet devnet status --dir {layout.root}`, stop it with "
            f"`alephnet devnet down --dir {layout.root}`"
        )


def stop_devnet(layout: DevnetLayout, timeout: float = STOP_TIMEOUT) -> Stopped | None:
    """SIGTERM the supervisor (`up`) and every node, SIGKILL what is left after `timeout`,
    remove the state file. None when no devnet runs from this folder."""
    state = live_state(layout)
    if state is None:
        return None
    running = [process.pid for process in state.running()]
    killed = stop_processes(state.processes, timeout)
    remove_state(layout.state_file)
    return Stopped(running, killed)
