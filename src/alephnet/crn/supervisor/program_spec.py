"""A PROGRAM message turned into what an executor runs: an `ExecutionSpec`.

The files it names (code, runtime, immutable volumes) are downloaded in parallel first; a file
that cannot be had makes the whole program unavailable (`ResourceUnavailable`, a 400 as in the
reference). Volumes are the ones `vm_message` prepares for programs and instances alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alephnet.crn.executors.base import CodeSpec, ExecutionSpec
from alephnet.crn.settings import CrnSettings
from alephnet.crn.supervisor.ccn_source import CcnSource
from alephnet.crn.supervisor.vm_message import VolumePreparer, resources_of, vm_content
from alephnet.protocol.content import ProgramContent
from alephnet.protocol.enums import Interface


@dataclass(frozen=True)
class PreparedProgram:
    vm_hash: str
    owner: str
    content: ProgramContent
    spec: ExecutionSpec


class ProgramPreparer:
    """Fetches a program's message and files and builds its spec.

    `needs_runtime`: the micro-VM boots the runtime named by the message; the sandbox runs the
    host's Python runtime whatever the message names, so it does not download it.
    """

    def __init__(self, source: CcnSource, settings: CrnSettings, needs_runtime: bool) -> None:
        self._source = source
        self._settings = settings
        self._needs_runtime = needs_runtime
        self._volumes = VolumePreparer(source, settings.volumes_dir)

    async def prepare(self, vm_hash: str) -> PreparedProgram:
        message = await self._source.message(vm_hash)
        content = program_content(vm_hash, message)
        owner = content.address
        code_path, runtime_path, volumes = await asyncio.gather(
            self._source.store_file(content.code.ref, owner, content.code.use_latest),
            self._runtime(content, owner),
            self._volumes.volumes(vm_hash, content.volumes, owner),
        )
        spec = ExecutionSpec(
            vm_hash=vm_hash,
            resources=resources_of(content),
            code=CodeSpec(
                path=code_path,
                encoding=str(content.code.encoding),
                entrypoint=content.code.entrypoint,
                interface=_interface(content),
                args=content.code.args,
            ),
            internet=content.environment.internet,
            variables=dict(content.variables or {}),
            volumes=volumes,
            runtime_path=runtime_path,
            work_dir=self._settings.executions_dir / vm_hash,
            api_host=self._settings.ccn_url if content.environment.aleph_api else None,
        )
        return PreparedProgram(vm_hash, owner, content, spec)

    async def _runtime(self, content: ProgramContent, owner: str) -> Path | None:
        if not self._needs_runtime:
            return None
        runtime = content.runtime
        return await self._source.store_file(runtime.ref, owner, runtime.use_latest)


def program_content(vm_hash: str, message: dict[str, Any]) -> ProgramContent:
    return vm_content(vm_hash, message, ProgramContent)


def _interface(content: ProgramContent) -> str:
    return "asgi" if content.code.effective_interface is Interface.ASGI else "executable"
