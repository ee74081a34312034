"""`CrnClient` against a stand-in CRN in-process: program calls, executions, owner operations."""

from __future__ import annotations

import pytest

from alephnet.sdk import (
    AccountError,
    AsgiTransport,
    CrnClient,
    NodeUnreachable,
    NotAuthorized,
    NotFound,
    SyncCrnClient,
    generate_account,
)
from tests.sdk.fake_crn import SSH_HOST_PORT, FakeCrn
from tests.servers import unused_loopback_url

VM = "c" * 64
DOMAIN = "aleph.local"  # the host of the in-process transport's URL


@pytest.fixture
def owner_and_crn() -> tuple[CrnClient, FakeCrn]:
    owner = generate_account("ETH")
    crn = FakeCrn(DOMAIN, owners={VM: owner.address})
    return CrnClient.for_app(crn.app(), account=owner), crn


async def test_a_call_reaches_the_program_and_returns_its_answer_whatever_its_status(
    owner_and_crn: tuple[CrnClient, FakeCrn],
) -> None:
    client, _crn = owner_and_crn
    async with client:
        answer = await client.call(VM, "/hello?x=1", method="POST", content=b"ping")
        assert answer.status_code == 200
        assert answer.json() == {"method": "POST", "path": "/hello", "body": "ping"}
        assert (await client.call(VM, "fail")).status_code == 500
        assert (await client.call("d" * 64)).status_code == 404


async def test_executions_list_mapped_ports(owner_and_crn: tuple[CrnClient, FakeCrn]) -> None:
    client, _crn = owner_and_crn
    async with client:
        executions = await client.executions()
        assert list(executions) == [VM]
        execution = await client.execution(VM)
        assert execution.running
        assert execution.networking.mapped_ports["22"].host == SSH_HOST_PORT
        with pytest.raises(NotFound, match="runs no VM"):
            await client.execution("d" * 64)


async def test_the_owner_reads_logs_and_stops_reboots_erases(
    owner_and_crn: tuple[CrnClient, FakeCrn],
) -> None:
    client, crn = owner_and_crn
    async with client:
        logs = await client.logs(VM)
        assert [(entry.message, entry.stream) for entry in logs] == [
            ("booted", "stdout"),
            (f"serving {VM}", "stderr"),
        ]
        assert logs[0].time == 1_700_000_000.0
        await client.stop(VM)
        await client.reboot(VM)
        await client.erase(VM)
    assert crn.operations == [("stop", VM), ("reboot", VM), ("erase", VM)]


async def test_someone_else_is_not_authorized() -> None:
    crn = FakeCrn(DOMAIN, owners={VM: generate_account("ETH").address})
    async with CrnClient.for_app(crn.app(), account=generate_account("ETH")) as client:
        with pytest.raises(NotAuthorized, match="Unauthorized sender") as caught:
            await client.stop(VM)
    assert caught.value.status_code == 403
    assert crn.operations == []


async def test_the_domain_signed_for_is_the_crns_own() -> None:
    owner = generate_account("ETH")
    crn = FakeCrn("crn.example.org", owners={VM: owner.address}, runtime_ref="f" * 64)
    async with CrnClient.for_app(crn.app(), account=owner) as client:
        assert (await client.config()).runtime_ref == "f" * 64
        await client.stop(VM)  # signed for the domain /status/config names
    async with CrnClient.for_app(crn.app(), account=owner, domain="other.org") as client:
        with pytest.raises(NotAuthorized, match="domain"):
            await client.logs(VM)


async def test_owner_operations_need_an_eth_account() -> None:
    crn = FakeCrn(DOMAIN)
    async with CrnClient.for_app(crn.app()) as client:
        with pytest.raises(AccountError, match="needs the owner's account"):
            await client.stop(VM)
    async with CrnClient.for_app(crn.app(), account=generate_account("SOL")) as client:
        with pytest.raises(AccountError, match="ETH key"):
            await client.stop(VM)


async def test_an_unreachable_crn_is_named() -> None:
    url = unused_loopback_url()
    async with CrnClient(url) as client:
        with pytest.raises(NodeUnreachable, match=url):
            await client.call(VM)


def test_the_blocking_facade_drives_a_crn_client() -> None:
    owner = generate_account("ETH")
    crn = FakeCrn(DOMAIN, owners={VM: owner.address})
    transport = AsgiTransport(crn.app())
    with SyncCrnClient(transport.api_url, transport=transport, account=owner) as client:
        assert client.call(VM, "/sync").json()["path"] == "/sync"
        client.stop(VM)
    assert crn.operations == [("stop", VM)]
