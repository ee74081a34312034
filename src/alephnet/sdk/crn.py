"""`CrnClient`: talking to a Compute Resource Node, the machine that runs programs and VMs.

Three kinds of calls, as the reference CRN serves them:
- calling a program: any method on `/vm/{hash}/{path}`; the answer is the program's own, so it
  is returned as is, whatever its status;
- reading what runs and how the node is set up: `/v2/about/executions/list`, `/status/config`;
- starting an instance there: `/control/allocation/notify` (public, as in the reference);
- owner operations on a VM (`/control/machine/{hash}/logs|stop|reboot|erase`): signed by the
  account that owns the VM, through an operator session (`alephnet.protocol.crn_auth`): the
  wallet signs an ephemeral key once per client, the key signs each call. The signatures name
  the CRN's domain, which the client reads from `/status/config` (`DOMAIN_NAME`) unless given.

Errors are the SDK's: `NodeUnreachable` (with the URL tried), `NotFound` (no such VM),
`NotAuthorized` (the CRN refused the signature or the signer), `ResponseError` for the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from alephnet.protocol import Signer
from alephnet.protocol.chains.evm import EvmSigner
from alephnet.protocol.crn_auth import OperatorSession
from alephnet.sdk._lifecycle import TransportOwner
from alephnet.sdk._responses import check_status, json_body, parse
from alephnet.sdk.accounts import Account
from alephnet.sdk.exceptions import AccountError, InvalidResponse, NotFound
from alephnet.sdk.models import CrnConfig, Execution, LogEntry
from alephnet.sdk.transport import AsgiTransport, HttpxTransport, RequestContent, Transport

DEFAULT_CRN_URL = "http://127.0.0.1:4020"
DEFAULT_CRN_TIMEOUT_SECONDS = 120.0
"""A first call boots a VM: seconds under KVM, tens of seconds under emulation (TCG)."""
EXECUTIONS_PATH = "/v2/about/executions/list"
CONFIG_PATH = "/status/config"
NOTIFY_PATH = "/control/allocation/notify"

Clock = Callable[[], float]


class CrnClient(TransportOwner):
    """Calls programs on one CRN and, with the owner's `account`, controls their VMs."""

    def __init__(
        self,
        crn_url: str = DEFAULT_CRN_URL,
        *,
        account: Account | Signer | None = None,
        domain: str | None = None,
        transport: Transport | None = None,
        timeout: float = DEFAULT_CRN_TIMEOUT_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        """`domain` is the name the CRN checks owner signatures against (its domain setting);
        by default what `/status/config` says, else the host of `crn_url`."""
        self.crn_url = crn_url.rstrip("/")
        super().__init__(transport or HttpxTransport(self.crn_url, timeout=timeout))
        self.signer = account.signer if isinstance(account, Account) else account
        self.domain = domain
        self.clock = clock
        self._session: OperatorSession | None = None

    @classmethod
    def for_app(cls, app: Any, **options: Any) -> Self:
        """A client of a CRN's ASGI app in this process (its URL and domain: `aleph.local`)."""
        transport = AsgiTransport(app)
        return cls(transport.api_url, transport=transport, **options)

    # --- programs ----------------------------------------------------------------------

    async def call(
        self,
        vm_hash: str,
        path: str = "/",
        *,
        method: str = "GET",
        content: RequestContent | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one HTTP request to the program `vm_hash` (booting it if needed) and return
        its answer, read whole. Only a failure to reach the CRN raises."""
        return await self.transport.request(
            method, vm_path(vm_hash, path), content=content, headers=headers
        )

    # --- executions --------------------------------------------------------------------

    async def executions(self) -> dict[str, Execution]:
        """Every VM the CRN knows of (running or not), by item hash."""
        body = json_body(await self.transport.request("GET", EXECUTIONS_PATH))
        if not isinstance(body, dict):
            raise InvalidResponse(f"{self.crn_url}{EXECUTIONS_PATH} did not answer an object")
        return {
            item_hash: parse(Execution, {**entry, "item_hash": item_hash}, EXECUTIONS_PATH)
            for item_hash, entry in body.items()
            if isinstance(entry, dict)
        }

    async def config(self) -> CrnConfig:
        """The node's public settings: its domain, and the runtime programs may name."""
        return parse(
            CrnConfig, json_body(await self.transport.request("GET", CONFIG_PATH)), CONFIG_PATH
        )

    async def execution(self, vm_hash: str) -> Execution:
        """One VM's execution; `NotFound` when the CRN has none for it."""
        found = (await self.executions()).get(vm_hash)
        if found is None:
            raise NotFound(f"the CRN at {self.crn_url} runs no VM {vm_hash}")
        return found

    async def notify(self, instance_hash: str) -> None:
        """Ask the CRN to boot the INSTANCE `instance_hash` (published on its CCN) and keep
        it running; returns once the VM is started (its SSH port answers a little later)."""
        check_status(
            await self.transport.request("POST", NOTIFY_PATH, json={"instance": instance_hash})
        )

    # --- owner operations --------------------------------------------------------------

    async def logs(self, vm_hash: str) -> list[LogEntry]:
        """What the VM printed (its current or last execution)."""
        response = await self._owner_request("GET", vm_hash, "logs")
        body = json_body(response)
        if not isinstance(body, list):
            raise InvalidResponse(f"the logs of {vm_hash} are not a JSON list")
        return [parse(LogEntry, entry, f"the logs of {vm_hash}") for entry in body]

    async def stop(self, vm_hash: str) -> None:
        await self._operate("stop", vm_hash)

    async def reboot(self, vm_hash: str) -> None:
        await self._operate("reboot", vm_hash)

    async def erase(self, vm_hash: str) -> None:
        """Stop the VM and delete its volumes on this CRN."""
        await self._operate("erase", vm_hash)

    async def _operate(self, operation: str, vm_hash: str) -> None:
        check_status(await self._owner_request("POST", vm_hash, operation))

    async def _owner_request(self, method: str, vm_hash: str, operation: str) -> httpx.Response:
        path = f"/control/machine/{vm_hash}/{operation}"
        session = await self._operator_session()
        headers = session.headers(method, path, self.clock())
        return await self.transport.request(method, path, headers=headers)

    async def _operator_session(self) -> OperatorSession:
        """The ephemeral key, made on the first owner call (one wallet signature per client)."""
        if self._session is None:
            if self.signer is None:
                raise AccountError(
                    f"controlling a VM on {self.crn_url} needs the owner's account: "
                    "pass account= to CrnClient"
                )
            if not isinstance(self.signer, EvmSigner):
                raise AccountError(
                    f"CRN owner operations are signed with an ETH key; {self.signer.address} "
                    f"is a {self.signer.chain} account"
                )
            domain = self.domain or await self._domain()
            self._session = OperatorSession.create(self.signer, domain, self.clock())
        return self._session

    async def _domain(self) -> str:
        try:
            domain = (await self.config()).domain_name
        except NotFound:
            domain = None
        return domain or urlsplit(self.crn_url).hostname or self.crn_url


def vm_path(vm_hash: str, path: str) -> str:
    """`/vm/{hash}/{path}`: where a CRN serves a program."""
    return f"/vm/{vm_hash}/{path.lstrip('/')}"
