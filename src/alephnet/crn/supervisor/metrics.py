"""The CRN's Prometheus metrics, in a registry of its own (one per app, none global)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class CrnMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.executions = Gauge(
            "alephnet_crn_executions", "Programs running now", registry=self.registry
        )
        self.instances = Gauge(
            "alephnet_crn_instances", "Instances (whole VMs) running now", registry=self.registry
        )
        self.cold_starts = Counter(
            "alephnet_crn_cold_starts", "Executions started", registry=self.registry
        )
        self.start_seconds = Histogram(
            "alephnet_crn_start_seconds",
            "Time to prepare and start an execution",
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "alephnet_crn_program_request_seconds",
            "Duration of requests to programs, cold starts included",
            ["outcome"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "alephnet_crn_failures",
            "Failures by kind (prepare, start, crash, timeout, exception, gone; "
            "instance_start, instance_crash)",
            ["kind"],
            registry=self.registry,
        )

    def count_executions_with(self, running: Callable[[], int]) -> None:
        self.executions.set_function(running)

    def count_instances_with(self, running: Callable[[], int]) -> None:
        self.instances.set_function(running)
