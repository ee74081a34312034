"""Instance VMs of the microvm executor: boot to SSH, power-down, memory of an idle instance.

    .venv/bin/python -m bench.crn_instance [--runs 5] [--translation-cache-mib N]

- first start: `start_instance()` of a fresh instance (its disk copied from the base image
  and grown to 2 GiB, its host key made) until its SSH port sends a banner (`ready`).
- boot to SSH: the same instance stopped and started again `--runs` times (its disk as it
  left it), p50; with the CPU time QEMU used until then (steadier than the wall clock on a
  shared host) and the guest's uptime when our init hands over to the image's systemd.
- stop: `stop()` (ACPI power button, the guest's own poweroff) until QEMU is gone, p50.
- memory: RSS of the idle QEMU process a few seconds after the boot.

Prints the figures and writes bench/results/crn_instance.json, with the load average: under
TCG a busy host moves these a lot. Needs the base image `scripts/build-crn-runtime` builds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from alephnet.crn.executors.base import InstanceSpec
from alephnet.crn.executors.microvm import MicroVMExecutor, MicroVMInstance, instance_rootfs
from alephnet.crn.executors.microvm.qemu import TRANSLATION_CACHE_MIB
from bench.crn_microvm import cpu_seconds, rss_mib
from bench.report import report

HANDED_OVER = re.compile(r"alephnet-init: starting the instance's init at ([0-9.]+)")
READY_TIMEOUT = 300.0
# Placeholder key: the benchmark never logs in, it only waits for sshd's banner.
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkKeyBenchmarkKeyBenchmarkKeyBench bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def instance_spec(folder: Path, run: int) -> InstanceSpec:
    return InstanceSpec(
        vm_hash="ab" * 32,
        vcpus=1,
        memory_mib=512,
        parent_image=instance_rootfs(),
        disk_path=folder / "rootfs.ext4",
        size_mib=2048,
        authorized_keys=(KEY,),
        hostname="bench",
        forwarded_ports={22: free_port()},
        internet=False,
        work_dir=folder / f"run{run}",
    )


async def boot(
    executor: MicroVMExecutor, spec: InstanceSpec
) -> tuple[MicroVMInstance, float, float]:
    """The booted instance, the seconds to its SSH banner and QEMU's CPU seconds until then."""
    started = time.perf_counter()
    instance = await executor.start_instance(spec)
    while not instance.ready:
        if time.perf_counter() - started > READY_TIMEOUT:
            raise TimeoutError(instance.console_path.read_text()[-2000:])
        await asyncio.sleep(0.1)
    return instance, time.perf_counter() - started, cpu_seconds(instance.pid)


async def stop_seconds(instance: MicroVMInstance) -> float:
    started = time.perf_counter()
    await instance.stop()
    return time.perf_counter() - started


def handed_over_at(instance: MicroVMInstance) -> float:
    found = HANDED_OVER.search(instance.console_path.read_text(errors="replace"))
    return float(found.group(1)) if found else float("nan")


async def run(runs: int, translation_cache_mib: int) -> dict[str, Any]:
    executor = MicroVMExecutor(translation_cache_mib=translation_cache_mib)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        instance, first, _ = await boot(executor, instance_spec(folder, 0))
        await asyncio.sleep(3)
        idle_rss = rss_mib(instance.pid)
        stops = [await stop_seconds(instance)]
        boots, cpus, handovers = [], [], []
        for index in range(1, runs + 1):
            instance, seconds, cpu = await boot(executor, instance_spec(folder, index))
            boots.append(seconds)
            cpus.append(cpu)
            handovers.append(handed_over_at(instance))
            stops.append(await stop_seconds(instance))
    return {
        "runs": runs,
        "translation_cache_mib": translation_cache_mib,
        "first_start_to_ssh_s": round(first, 2),
        "boot_to_ssh_p50_s": round(statistics.median(boots), 2),
        "boot_to_ssh_min_s": round(min(boots), 2),
        "boot_to_ssh_max_s": round(max(boots), 2),
        "qemu_cpu_to_ssh_p50_s": round(statistics.median(cpus), 2),
        "guest_uptime_at_handover_p50_s": round(statistics.median(handovers), 2),
        "stop_p50_s": round(statistics.median(stops), 2),
        "idle_qemu_rss_mib": round(idle_rss, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--translation-cache-mib", type=int, default=TRANSLATION_CACHE_MIB, help="TCG tb-size"
    )
    arguments = parser.parse_args()
    report("crn_instance", asyncio.run(run(arguments.runs, arguments.translation_cache_mib)))


if __name__ == "__main__":
    main()
