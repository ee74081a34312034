"""py-libp2p 0.7.0's Yamux streams, crediting the peer's send window less often.

The library's stream sends a WINDOW_UPDATE frame after nearly every read: a frame of its own,
Noise-encrypted and written to the socket, for each pubsub RPC received; and it reads its
tuning from the environment on each read. In a profile of a receiving CCN at 100 msg/s this
was most of the time spent reading RPCs. go-yamux credits the window only once half of it has
been read; `Libp2pYamuxStream` does the same. The peer may still send half a window
(128 KiB) ahead, far more than a burst of gossip RPCs, so in practice it never waits for the
credit, and the frames on the wire are the standard ones.
"""

from __future__ import annotations

from libp2p.stream_muxer.yamux import yamux as yamux_module
from libp2p.stream_muxer.yamux.yamux import YamuxStream


class Libp2pYamuxStream(YamuxStream):
    async def _auto_tune_and_send_window_update(self, *, bytes_read: int = 0) -> None:
        async with self.window_lock:
            self._pending_recv_release += bytes_read
            if self._pending_recv_release < self.target_recv_window // 2:
                return
            increment, self._pending_recv_release = self._pending_recv_release, 0
            self.recv_window += increment
        await self.send_window_update(increment, skip_lock=True)


def install_yamux_streams() -> None:
    """Make the library build `Libp2pYamuxStream`s: it creates its streams by the module's
    name `YamuxStream` and offers no setting for it (this applies to every host of the
    process)."""
    yamux_module.YamuxStream = Libp2pYamuxStream  # type: ignore[misc]
