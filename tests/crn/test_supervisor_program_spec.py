"""A PROGRAM message turned into an `ExecutionSpec`: files fetched (amends followed, hashes
checked, ipfs CIDs too), resources, variables and volumes of each kind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from alephnet.crn.executors.base import VolumeKind
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.errors import NotAProgram, ResourceUnavailable
from alephnet.crn.supervisor.program_spec import ProgramPreparer
from tests.crn.supervisor_doubles import CODE_REF, OWNER, FakeCcn, vm_hash_of

PROGRAM = vm_hash_of(0x99)
VOLUME_REF = "fe" * 32
AMEND = "ae" * 32


async def prepare(tmp_path: Path, ccn: FakeCcn, vm_hash: str = PROGRAM, *, microvm: bool = False):  # type: ignore[no-untyped-def]
    settings = CrnSettings(data_dir=tmp_path, ccn_url="http://ccn.test")
    async with httpx.AsyncClient(base_url="http://ccn.test", transport=ccn.transport()) as http:
        preparer = ProgramPreparer(CcnSource(http, settings.cache_dir), settings, microvm)
        return await preparer.prepare(vm_hash)


async def test_the_spec_follows_the_message(tmp_path: Path) -> None:
    ccn = FakeCcn()
    ccn.add_store(CODE_REF, b"first code")
    ccn.add_store(AMEND, b"amended code", amends=CODE_REF)
    ccn.add_store(VOLUME_REF, b"squashfs image", engine="ipfs")
    ccn.add_program(
        PROGRAM,
        memory=512,
        vcpus=2,
        timeout_seconds=7,
        env={"GREETING": "hi"},
        volumes=[
            {"ref": VOLUME_REF, "mount": "/opt/venv", "use_latest": False},
            {"ephemeral": True, "mount": "/scratch", "size_mib": 10},
            {"name": "../data", "persistence": "host", "size_mib": 5},
        ],
    )
    prepared = await prepare(tmp_path, ccn)
    spec = prepared.spec
    assert prepared.owner == OWNER
    assert spec.code.path.read_bytes() == b"amended code"  # code.use_latest: the amend wins
    assert (spec.code.encoding, spec.code.entrypoint, spec.code.interface) == (
        "zip",
        "main:app",
        "asgi",
    )
    assert (spec.resources.vcpus, spec.resources.memory_mib, spec.resources.seconds) == (2, 512, 7)
    assert spec.variables == {"GREETING": "hi"}
    assert spec.internet is True  # the SDK's default
    assert spec.api_host == "http://ccn.test"
    assert spec.runtime_path is None  # the sandbox runs its own runtime
    immutable, ephemeral, persistent = spec.volumes
    assert immutable.kind is VolumeKind.IMMUTABLE
    assert immutable.read_only
    assert immutable.host_path is not None
    assert immutable.host_path.read_bytes() == b"squashfs image"
    assert (ephemeral.kind, ephemeral.mount, ephemeral.size_mib) == (
        VolumeKind.EPHEMERAL,
        "/scratch",
        10,
    )
    assert persistent.kind is VolumeKind.PERSISTENT
    assert persistent.host_path == tmp_path / "volumes" / PROGRAM / "___data"
    assert persistent.mount == "/mnt/___data"


async def test_the_micro_vm_gets_the_runtime_the_message_names(tmp_path: Path) -> None:
    ccn = FakeCcn()
    ccn.add_store(CODE_REF, b"code")
    runtime = "7e" * 32
    ccn.add_store(runtime, b"rootfs")
    ccn.add_program(PROGRAM, runtime=runtime)
    prepared = await prepare(tmp_path, ccn, microvm=True)
    assert prepared.spec.runtime_path is not None
    assert prepared.spec.runtime_path.read_bytes() == b"rootfs"


async def test_what_cannot_run_is_refused_clearly(tmp_path: Path) -> None:
    ccn = FakeCcn()
    ccn.add_store(CODE_REF, b"code")
    with pytest.raises(NotAProgram, match="STORE message"):
        await prepare(tmp_path, ccn, CODE_REF)
    ccn.add_program(PROGRAM, runtime="7e" * 32)
    with pytest.raises(ResourceUnavailable, match="no STORE message"):
        await prepare(tmp_path, ccn, microvm=True)
