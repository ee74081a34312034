"""`/about/...`: what the node is, what it can hold, what it runs (the scheduler's sources)."""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response

from alephnet import __version__
from alephnet.crn.supervisor.api.deps import NodeDep
from alephnet.crn.supervisor.execution import Timeline
from alephnet.crn.supervisor.node import CrnNode

router = APIRouter(tags=["about"])

KIB = 1024


class Listed(Protocol):
    """A program's or an instance's execution, as the lists show it."""

    @property
    def times(self) -> Timeline: ...

    @property
    def running(self) -> bool: ...

    @property
    def vm_type(self) -> str: ...

    @property
    def mapped_ports(self) -> dict[str, dict[str, Any]]: ...


@router.get("/")
async def index(node: NodeDep) -> dict[str, Any]:
    return {
        "name": "alephnet Compute Resource Node",
        "version": __version__,
        "executor": node.settings.executor,
        "address": node.account.address,
        "ccn": node.settings.ccn_url,
        "programs": "/vm/{item_hash}/",
        "docs": "/docs",
    }


@router.get("/about/login")
async def login(node: NodeDep, token: str | None = None) -> Response:
    """The reference's operator login: the token of the data dir sets a session cookie."""
    if token is None or not secrets.compare_digest(token, node.login_token):
        return JSONResponse({"success": False}, 401)
    response = RedirectResponse("/status/config", 302)
    response.set_cookie("token", node.login_token, httponly=True, samesite="strict")
    return response


@router.get("/about/usage/system")
async def usage_system(node: NodeDep) -> dict[str, Any]:
    """Host figures, capped by the capacity the settings give programs; `mem.available_kB`
    is what is still free for new programs."""
    capacity, used = node.pool.capacity, node.pool.usage()
    total_kb, available_kb = _memory_kb()
    disk = shutil.disk_usage(node.settings.data_dir)
    load1, load5, load15 = os.getloadavg()
    now = int(time.time())
    return {
        "cpu": {
            "count": os.cpu_count() or 1,
            "load_average": {"load1": load1, "load5": load5, "load15": load15},
            "core_frequencies": {"min": 0, "max": 0},
        },
        "mem": {
            "total_kB": min(total_kb, capacity.memory_mib * KIB),
            "available_kB": max(
                0, min(available_kb, (capacity.memory_mib - used.memory_mib) * KIB)
            ),
        },
        "disk": {"total_kB": disk.total // KIB, "available_kB": disk.free // KIB},
        "period": {"start_timestamp": _iso_minute(now), "duration_seconds": 60},
        "properties": {
            "cpu": {"architecture": platform.machine(), "vendor": _cpu_vendor(), "features": []}
        },
        "gpu": {"devices": [], "available_devices": []},
        "active": True,
    }


@router.get("/about/executions/list")
async def executions_list(node: NodeDep) -> dict[str, Any]:
    """Running executions only."""
    return {
        vm_hash: {
            "networking": {"ipv4": None, "ipv6": None},
            "vm_type": record.vm_type,
            "awaiting_confidential_init": False,
        }
        for vm_hash, record in _listed(node).items()
        if record.running
    }


@router.get("/v2/about/executions/list")
async def executions_list_v2(node: NodeDep) -> dict[str, Any]:
    """Running executions and the latest stopped ones, with their lifecycle timestamps; an
    instance's `mapped_ports` say where its SSH port (22) is reached on the CRN's host."""
    return {vm_hash: _v2_entry(record) for vm_hash, record in _listed(node).items()}


def _listed(node: CrnNode) -> dict[str, Listed]:
    """Programs and instances, the latest stopped first, the running ones last (they win)."""
    pool, instances = node.pool, node.instances
    return {**pool.history, **instances.history, **pool.executions, **instances.instances}


def _v2_entry(record: Listed) -> dict[str, Any]:
    return {
        "networking": {
            "ipv4_network": None,
            "host_ipv4": None,
            "ipv6_network": None,
            "ipv6_ip": None,
            "ipv4_ip": None,
            "mapped_ports": record.mapped_ports,
        },
        "status": record.times.as_json(),
        "running": record.running,
        "awaiting_confidential_init": False,
        "vm_type": record.vm_type,
    }


def _memory_kb() -> tuple[int, int]:
    """(MemTotal, MemAvailable) from /proc/meminfo."""
    fields: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0]) if value.split() else 0
    return fields.get("MemTotal", 0), fields.get("MemAvailable", 0)


def _cpu_vendor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return ""


def _iso_minute(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(timestamp))
