"""`/status/check/fastapi`: the node deploys the hello-world example on its CCN (once; signed
by its node key, on its own runtime) and calls it through its own HTTP front, as the reference
CRN's diagnostic does with its example program.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from alephnet.crn.supervisor.runtime import RuntimePublisher
from alephnet.sdk.authenticated import AuthenticatedAlephClient
from alephnet.sdk.exceptions import AlephError

HELLO_EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "hello"
"""The example in a source checkout (alephnet is installed in editable mode by `./run`)."""
CHECK_TIMEOUT = 20.0  # the reference's scorer allows 20 s


class SelfCheckError(Exception):
    """The self-test could not even deploy its program."""


class SelfCheck:
    def __init__(
        self,
        publisher: AuthenticatedAlephClient,
        runtime: RuntimePublisher,
        state_path: Path,
        front_url: str,
        code: Path = HELLO_EXAMPLE,
    ) -> None:
        self._publisher = publisher
        self._runtime = runtime
        self._state_path = state_path
        self._front_url = front_url
        self._code = code
        self._lock = asyncio.Lock()

    @property
    def program_hash(self) -> str | None:
        """The deployed program, if deployed (for `/status/config`)."""
        return self._recorded()

    async def run(self) -> dict[str, bool | str]:
        """`{"index": bool}` (and `error` when it could not be run)."""
        try:
            program = await self._deployed_program()
        except SelfCheckError as error:
            return {"index": False, "error": str(error)}
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT) as client:
            try:
                response = await client.get(f"{self._front_url}/vm/{program}/")
                index = response.status_code == 200 and "message" in response.json()
            except (httpx.HTTPError, ValueError):
                index = False
        return {"index": index}

    async def _deployed_program(self) -> str:
        async with self._lock:
            if (known := self._recorded()) is not None:
                return known
            if self._runtime.ref is None:
                raise SelfCheckError("the node's runtime is not published on its CCN yet")
            if not self._code.is_dir():
                raise SelfCheckError(f"the hello example is not installed at {self._code}")
            try:
                published = await self._publisher.create_program(
                    self._code,
                    "main:app",
                    runtime=self._runtime.ref,
                    memory=128,
                    timeout_seconds=10,
                    internet=False,
                    sync=True,
                )
            except AlephError as error:
                raise SelfCheckError(f"deploying the hello example failed: {error}") from error
            self._state_path.write_text(
                json.dumps({"runtime": self._runtime.ref, "program": published.item_hash}) + "\n"
            )
            return published.item_hash

    def _recorded(self) -> str | None:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        if state.get("runtime") != self._runtime.ref or not state.get("program"):
            return None
        return str(state["program"])
