"""PROGRAM messages: the code archive, and content with every default written out.

The official clients drop a PROGRAM whose content does not serialise back to itself, so no
field may be left to its default by omission: the content is built as a `ProgramContent`
model and serialised whole (`build_message` dumps defaults, leaving out only None).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alephnet.protocol.content import CodeContent, FunctionRuntime, ProgramContent
from alephnet.protocol.content.execution import (
    FunctionEnvironment,
    FunctionTriggers,
)
from alephnet.protocol.enums import Encoding, MachineType
from alephnet.sdk._executable import executable_fields
from alephnet.sdk._validation import content_errors

DEFAULT_RUNTIME = "63f07193e6ee9d207b7d1fcf8286f9aee34e6f12f101d2ec77c1229f92964696"
"""The official runtime's STORE hash (Debian with Python), as the official SDK defaults to."""
DEFAULT_MEMORY_MIB = 256
DEFAULT_VCPUS = 1
DEFAULT_TIMEOUT_SECONDS = 30


def code_archive(source: str | os.PathLike[str]) -> bytes:
    """A zip of the program: a folder is zipped (sorted, so the same folder gives the same
    bytes), a zip file is taken as is, any other file is zipped alone."""
    path = Path(source)
    if path.is_file() and zipfile.is_zipfile(path):
        return path.read_bytes()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    root = path if path.is_dir() else path.parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    """Everything about a program but its code; the defaults are the official SDK's."""

    entrypoint: str
    runtime: str = DEFAULT_RUNTIME
    memory: int = DEFAULT_MEMORY_MIB
    vcpus: int = DEFAULT_VCPUS
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    env: Mapping[str, str] | None = None
    volumes: Sequence[Mapping[str, Any]] = ()
    persistent: bool = False
    internet: bool = True
    aleph_api: bool = True
    allow_amend: bool = False
    metadata: Mapping[str, Any] | None = None


def program_content(
    settings: ProgramSettings, address: str, chain: str, code_ref: str, now: float
) -> ProgramContent:
    with content_errors("PROGRAM"):
        return ProgramContent.model_validate(
            {
                **executable_fields(settings, address, chain, now),
                "authorized_keys": [],
                "environment": FunctionEnvironment(
                    internet=settings.internet, aleph_api=settings.aleph_api
                ),
                "type": MachineType.VM_FUNCTION,
                "code": CodeContent(
                    encoding=Encoding.ZIP,
                    entrypoint=settings.entrypoint,
                    ref=code_ref,
                    use_latest=True,
                ),
                "runtime": FunctionRuntime(
                    ref=settings.runtime,
                    use_latest=True,
                    comment="Official aleph.im runtime"
                    if settings.runtime == DEFAULT_RUNTIME
                    else "",
                ),
                "on": FunctionTriggers(http=True, persistent=settings.persistent),
            }
        )
