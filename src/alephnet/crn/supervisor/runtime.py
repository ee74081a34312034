"""The runtime the node publishes on its CCN, so that PROGRAM messages can name it.

A PROGRAM's `runtime.ref` must be a STORE the CCN knows. At start the CRN stores its runtime
file on its CCN, signed by its node key, and reports the STORE's hash (`/status/config`
`runtime_ref`, and the log): for the microvm executor the root filesystem image the guest boots,
for the sandbox a small JSON descriptor naming the host's Python runtime (the sandbox runs the
host's runtime whatever `runtime.ref` says, so it accepts any ref). The STORE is published once
per file content: its hash is remembered in `runtime.json` and reused while the CCN has it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import platform
from pathlib import Path

from alephnet import __version__
from alephnet.sdk.authenticated import AuthenticatedAlephClient
from alephnet.sdk.exceptions import AlephError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 2.0
CHUNK = 1 << 20


def sandbox_runtime_descriptor(directory: Path) -> Path:
    """The sandbox's runtime file: what it runs programs with, as JSON."""
    path = directory / "sandbox-runtime.json"
    descriptor = {
        "name": "alephnet-sandbox-python",
        "executor": "sandbox",
        "python": platform.python_version(),
        "alephnet": __version__,
    }
    text = json.dumps(descriptor, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


class RuntimePublisher:
    def __init__(self, client: AuthenticatedAlephClient, record_path: Path) -> None:
        self._client = client
        self._record_path = record_path
        self.ref: str | None = None
        self.published = asyncio.Event()

    async def publish_until_done(self, runtime_file: Path) -> str:
        """Publish, retrying while the CCN is unreachable (it may start after the CRN)."""
        while True:
            try:
                self.ref = await self._publish(runtime_file)
            except AlephError as error:
                logger.warning(
                    "publishing %s on the CCN failed (%s): retrying", runtime_file.name, error
                )
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.published.set()
            logger.info("%s published as STORE %s", runtime_file.name, self.ref)
            return self.ref

    async def _publish(self, runtime_file: Path) -> str:
        file_hash = await asyncio.to_thread(_sha256_of, runtime_file)
        known = self._recorded(file_hash)
        if known is not None and await self._on_ccn(known):
            return known
        published = await self._client.create_store(runtime_file, sync=True)
        self._record_path.parent.mkdir(parents=True, exist_ok=True)
        self._record_path.write_text(
            json.dumps({"file_sha256": file_hash, "store": published.item_hash}) + "\n"
        )
        return published.item_hash

    def _recorded(self, file_hash: str) -> str | None:
        try:
            record = json.loads(self._record_path.read_text())
        except (OSError, ValueError):
            return None
        store = record.get("store") if record.get("file_sha256") == file_hash else None
        return str(store) if store else None

    async def _on_ccn(self, item_hash: str) -> bool:
        try:
            await self._client.get_message(item_hash)
        except AlephError:
            return False
        return True


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
