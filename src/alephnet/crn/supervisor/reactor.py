"""Following the CCN's message feed (`/api/ws0/messages`), to act on what changes under the
programs and instances this node runs (reference §2.7, update-watching):

- a FORGET of a program that runs or is allocated here: its execution stops, a persistent one is
  de-allocated, and later requests get a 410 naming the FORGET; of an instance: the instances'
  own forgotten path (stopped, disk erased). The CCN's status of the target is checked first:
  the feed says what happened, the CCN confirms it.
- a STORE amending (`content.ref`) a file that a running program follows with `use_latest`
  (code, the micro-VM's runtime, immutable volumes), from the program's owner: if the ref now
  names another file than the one the program runs on, the execution is retired (on demand:
  stopped once idle, the next request starts on the new file; persistent: restarted on it).

Only FORGET and STORE messages are asked for, and what concerns this node is sorted out from
the running executions on each message: nothing is kept in step with the pool.

The SDK's watcher reconnects by itself and replays the latest messages to fill the gap; when
it gives up (the CCN down for minutes) the feed is followed again after `RESUBSCRIBE_SECONDS`.
Each time the feed is (re)opened, what it may have carried meanwhile is checked directly
(`catch_up`: the status of each program, the latest amend of each followed ref).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import Forgotten, SupervisorError
from alephnet.crn.supervisor.execution import ProgramExecution
from alephnet.crn.supervisor.instance_spec import ROOTFS_NAME
from alephnet.crn.supervisor.instances import InstanceManager
from alephnet.crn.supervisor.pool import ExecutionPool
from alephnet.crn.supervisor.program_spec import PreparedProgram
from alephnet.protocol.content.volumes import ImmutableVolume
from alephnet.protocol.enums import MessageStatus
from alephnet.sdk.exceptions import TransportError
from alephnet.sdk.models import Message

logger = logging.getLogger(__name__)

Feed = Callable[[], AsyncIterator[Message]]
FOLLOWED_TYPES = ("FORGET", "STORE")
RESUBSCRIBE_SECONDS = 30.0


def followed_files(prepared: PreparedProgram) -> dict[str, str]:
    """ref -> hash of the file the execution runs on, for the refs it follows (`use_latest`).
    Files are cached by hash, so a spec's path names the file it holds."""
    content, spec = prepared.content, prepared.spec
    followed: dict[str, str] = {}
    if content.code.use_latest:
        followed[str(content.code.ref)] = spec.code.path.name
    if content.runtime.use_latest and spec.runtime_path is not None:
        followed[str(content.runtime.ref)] = spec.runtime_path.name
    # The spec's volumes are the message's, in the same order (vm_message.VolumePreparer).
    for volume, mounted in zip(content.volumes, spec.volumes, strict=True):
        if isinstance(volume, ImmutableVolume) and volume.use_latest and mounted.host_path:
            followed[str(volume.ref)] = mounted.host_path.name
    return followed


class MessageReactor:
    def __init__(
        self,
        feed: Feed,
        source: CcnSource,
        pool: ExecutionPool,
        instances: InstanceManager,
        volumes_dir: Path,
        resubscribe_seconds: float = RESUBSCRIBE_SECONDS,
    ) -> None:
        """`volumes_dir`: where instances keep their disks (a FORGET of one that no longer
        runs here still erases its disk)."""
        self._feed = feed
        self._volumes_dir = volumes_dir
        self._source = source
        self._pool = pool
        self._instances = instances
        self._resubscribe_seconds = resubscribe_seconds
        self._reactions: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Follow the feed until cancelled, whatever happens to the CCN."""
        try:
            while True:
                await self._follow()
                await asyncio.sleep(self._resubscribe_seconds)
        finally:
            for task in list(self._reactions):
                task.cancel()
            await asyncio.gather(*self._reactions, return_exceptions=True)

    async def _follow(self) -> None:
        logger.info("following the CCN's FORGET and STORE messages")
        self._spawn(self.catch_up())
        try:
            async for message in self._feed():
                try:
                    self.react(message)
                except Exception:
                    logger.exception("message %s could not be acted on", message.item_hash)
        except TransportError as error:
            logger.warning(
                "the CCN's message feed is unreachable (%s): following it again in %.0f s",
                error,
                self._resubscribe_seconds,
            )
        except Exception:
            logger.exception(
                "following the CCN's message feed failed: following it again in %.0f s",
                self._resubscribe_seconds,
            )

    def react(self, message: Message) -> None:
        """Start what `message` calls for, in the background (a stop may take seconds; the
        feed goes on meanwhile). Messages that concern nothing here cost a few lookups."""
        content = message.content if isinstance(message.content, dict) else {}
        if message.type == "FORGET":
            targets = [str(target) for target in content.get("hashes") or []]
            for target in filter(self._concerns, targets):
                self._spawn(self._forget(target, message.item_hash, content.get("reason")))
        elif message.type == "STORE" and isinstance(content.get("ref"), str):
            owner, ref = str(content.get("address")), content["ref"]
            users = [
                record
                for record in self._followers(ref)
                if record.prepared is not None and record.prepared.owner == owner
            ]
            if users:
                self._spawn(self._refresh(ref, owner, users, f" by STORE {message.item_hash}"))

    async def catch_up(self) -> None:
        """What the feed may have carried while it was not followed: forgotten programs,
        amended files."""
        for vm_hash in self._pool.programs():
            await self._forget(vm_hash, None, None)
        for record in list(self._pool.executions.values()):
            if record.prepared is None or not record.running:
                continue
            for ref in followed_files(record.prepared):
                await self._refresh(ref, record.prepared.owner, [record], "")

    def _concerns(self, vm_hash: str) -> bool:
        return self._pool.concerns(vm_hash) or self._holds_instance(vm_hash)

    def _holds_instance(self, vm_hash: str) -> bool:
        """A running instance, or the disk of one: a lookup and a stat, where
        `InstanceManager.knows` lists every disk (~0.5 ms with 100 of them, per target of
        every FORGET on the network)."""
        return (
            vm_hash in self._instances.instances
            or (self._volumes_dir / vm_hash / ROOTFS_NAME).exists()
        )

    def _followers(self, ref: str) -> list[ProgramExecution]:
        return [
            record
            for record in self._pool.executions.values()
            if record.running and record.prepared and ref in followed_files(record.prepared)
        ]

    async def _forget(self, vm_hash: str, forget_hash: str | None, reason: Any) -> None:
        if self._pool.concerns(vm_hash):
            if await self._source.status(vm_hash) != MessageStatus.FORGOTTEN:
                return
            why = f"program {vm_hash} was forgotten on the CCN"
            if forget_hash is not None:
                why += f" by FORGET {forget_hash}"
            if reason:
                why += f" ({reason})"
            await self._pool.forget(vm_hash, why)
        elif self._holds_instance(vm_hash):
            with suppress(Forgotten):
                await self._instances.forget_if_forgotten(vm_hash)

    async def _refresh(
        self, ref: str, owner: str, records: list[ProgramExecution], cause: str
    ) -> None:
        """Retire the executions whose file for `ref` is no longer the one it names now.
        `cause`: what told (" by STORE <hash>"), or empty."""
        try:
            latest, _engine = await self._source.stored_file(ref, owner, use_latest=True)
        except SupervisorError as error:
            logger.warning("the latest version of %s could not be had: %s", ref, error)
            return
        for record in records:
            assert record.prepared is not None
            in_use = followed_files(record.prepared).get(ref)
            if in_use is not None and in_use != latest:
                reason = f"{ref} was amended{cause} (file {in_use} -> {latest})"
                self._pool.retire(record, reason)

    def _spawn(self, reaction: Awaitable[None]) -> None:
        task = asyncio.ensure_future(self._logged(reaction))
        self._reactions.add(task)
        task.add_done_callback(self._reactions.discard)

    @staticmethod
    async def _logged(reaction: Awaitable[None]) -> None:
        """A reaction that fails is logged; the feed goes on."""
        try:
            await reaction
        except Exception:
            logger.exception("reacting to a message of the CCN failed")
