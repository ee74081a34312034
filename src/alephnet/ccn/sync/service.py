"""The sync loop: every `interval` seconds, one reconcile round with each peer in turn; while
a round stops at its quota (the node is far behind), the next one starts as soon as
processing has room for more.

Peers come from the settings and from gossip announcements (`add_peer`); the partition switch
of the gossip service pauses the loop (`pause`, `resume`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from alephnet.ccn.sync.peer_api import PeerError
from alephnet.ccn.sync.pulls import PeerRound
from alephnet.ccn.sync.reconcile import Reconciler

logger = logging.getLogger(__name__)

BACKLOG_POLL = 0.2
"""How often a round waiting for processing looks at the pending queue again."""


@dataclass(slots=True)
class SyncCounts:
    """Totals since start, for the metrics."""

    rounds: int = 0
    pulled: int = 0
    peer_failures: int = 0


class SyncService:
    def __init__(
        self,
        reconciler: Reconciler,
        peers: Sequence[str],
        interval: float,
        first_round_delay: float = 0.0,
    ) -> None:
        self._reconciler = reconciler
        self._peers = list(peers)
        self._interval = interval
        self._first_round_delay = first_round_delay
        self._task: asyncio.Task[None] | None = None
        self._first = 0
        self.counts = SyncCounts()
        self.paused = False

    def add_peer(self, url: str) -> None:
        if url not in self._peers:
            self._peers.append(url)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="sync")

    async def stop(self) -> None:
        """Cancel the round in progress: what it submitted is committed, the rest waits for the
        next start."""
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def run_round(self) -> list[PeerRound]:
        """Reconcile with every peer once, in turn, until one gives something new: the next
        peers probably hold the same, and what it gave is pending here, outside the digests,
        so they would be read again; they come next round, once processing has drained the
        queue. A failing peer is logged and retried next round."""
        reports: list[PeerRound] = []
        for peer in self._in_turn():
            if any(report.pulled for report in reports):
                break
            self._first = (self._peers.index(peer) + 1) % len(self._peers)
            started = time.perf_counter()
            try:
                report = await self._reconciler.reconcile(peer)
            except PeerError as error:
                self.counts.peer_failures += 1
                logger.warning("sync with %s failed: %s", peer, error)
                continue
            self.counts.pulled += report.pulled
            _log_round(report, time.perf_counter() - started)
            reports.append(report)
        self.counts.rounds += 1
        return reports

    def _in_turn(self) -> list[str]:
        """The peers, starting with the one after the last reconciled: a round that stops at
        a peer giving something new leaves the others first in line next time."""
        first = self._first % len(self._peers) if self._peers else 0
        return self._peers[first:] + self._peers[:first]

    async def _run_forever(self) -> None:
        """The first round starts at once by default: a node that was down has its catch-up
        to begin (its API serves meanwhile). A round cut short by its quota is followed by the
        next as soon as processing has room for more (`_wait_for_processing`): no idle wait
        while this node is behind."""
        await asyncio.sleep(self._first_round_delay)
        behind = False
        while True:
            if not self.paused:
                try:
                    await self._wait_for_processing(behind)
                    behind = any(report.cut_short for report in await self.run_round())
                except Exception:
                    behind = False
                    logger.exception("sync round failed; next round in %s s", self._interval)
            if not behind:
                await asyncio.sleep(self._interval)

    async def _wait_for_processing(self, behind: bool) -> None:
        """Until the pending queue is empty, or stops shrinking (messages waiting for a retry,
        not for the processor): a round while what was pulled is still pending would walk
        the digests down to find nothing new. While behind, only until it is down to the
        backlog limit, so that the next pull arrives before processing runs dry."""
        limit = self._reconciler.limits.backlog if behind else 0
        previous = None
        while (backlog := await self._reconciler.backlog()) > limit:
            if previous is not None and backlog >= previous:
                return
            previous = backlog
            await asyncio.sleep(BACKLOG_POLL)


def _log_round(report: PeerRound, wall: float) -> None:
    """One line per round, at INFO when it pulled something (bench.catch_up parses it)."""
    steps = " ".join(f"{step}={seconds:.3f}" for step, seconds in report.seconds.items())
    logger.log(
        logging.INFO if report.pulled else logging.DEBUG,
        "sync round with %s: pulled=%d requests=%d wall=%.3f %s",
        report.peer,
        report.pulled,
        report.requests,
        wall,
        steps,
    )
