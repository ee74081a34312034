"""The gossip's Prometheus metrics, read from its counters when scraped."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from alephnet.ccn.p2p.service import GossipService


class GossipCollector(Collector):
    def __init__(self, service: GossipService) -> None:
        self._service = service

    def collect(self) -> Iterable[Metric]:
        counts = self._service.gossip.counts
        yield CounterMetricFamily(
            "alephnet_gossip_published", "Messages published on gossip", value=counts.published
        )
        yield CounterMetricFamily(
            "alephnet_gossip_received",
            "Valid messages received from gossip peers",
            value=counts.received,
        )
        yield CounterMetricFamily(
            "alephnet_gossip_invalid",
            "Gossip messages refused by validation (not delivered, not forwarded)",
            value=counts.invalid,
        )
        dropped = CounterMetricFamily(
            "alephnet_gossip_dropped",
            "Gossip messages dropped: inbound (node too busy), outbound (peer send queue "
            "full), publish (outbox full or gossip stopped)",
            labels=["direction"],
        )
        dropped.add_metric(["inbound"], counts.dropped_inbound)
        dropped.add_metric(["outbound"], counts.dropped_outbound)
        dropped.add_metric(["publish"], self._service.counts.publish_dropped)
        yield dropped
        yield CounterMetricFamily(
            "alephnet_gossip_banned_peers",
            "Peers banned for passing on junk",
            value=counts.banned_peers,
        )
        yield GaugeMetricFamily(
            "alephnet_gossip_peers", "Connected libp2p peers", value=counts.connected_peers
        )
        mesh = GaugeMetricFamily(
            "alephnet_gossip_mesh_peers",
            "Peers this node forwards a topic's messages to (its gossipsub mesh)",
            labels=["topic"],
        )
        for topic, peers in counts.mesh_peers.items():
            mesh.add_metric([topic], peers)
        yield mesh
        yield GaugeMetricFamily(
            "alephnet_gossip_isolated",
            "1 while the node is isolated by the partition switch",
            value=int(self._service.isolated),
        )
