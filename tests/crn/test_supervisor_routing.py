"""Requests to programs through the CRN app: path and host routing, the response header rules
and every failure's status (test-double executor, fake CCN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alephnet.crn.supervisor.routing import base32_label, hash_from_host
from tests.crn.crn_app import CrnApp, crn_app
from tests.crn.supervisor_doubles import CODE_REF, vm_hash_of

HELLO = vm_hash_of(0xAB)


def publish_hello(crn: CrnApp, **program: Any) -> None:
    """HELLO and the STORE of its code on the fake CCN: a program the CRN can start."""
    crn.ccn.add_store(CODE_REF, b"code")
    crn.ccn.add_program(HELLO, **program)


async def test_a_program_answers_under_vm_hash_with_the_reference_headers(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path) as crn:
        crn.ccn.add_store(CODE_REF, b"PK fake zip")
        crn.ccn.add_program(HELLO)
        response = await crn.client.post(f"/vm/{HELLO}/some/path?x=1", content=b"body")
        assert response.status_code == 200
        assert response.text == "POST /some/path body"
        assert response.headers["aleph-program-itemhash"] == HELLO
        assert response.headers["aleph-program-code-ref"] == CODE_REF
        assert response.headers["content-length"] == str(len(response.content))
        assert "vary" not in response.headers
        assert response.headers["server"].startswith("aleph-vm/")
        root = await crn.client.get(f"/vm/{HELLO}")
        assert root.text == "GET / "
        assert len(crn.executor.started) == 1  # the second call was warm


async def test_hostname_routing_takes_hex_and_base32_labels(tmp_path: Path) -> None:
    assert hash_from_host(f"{base32_label(HELLO)}.vm.crn.test:443", "crn.test") == HELLO
    assert hash_from_host("a.b.vm.crn.test", "crn.test") is None
    async with crn_app(tmp_path) as crn:
        publish_hello(crn)
        for label in (HELLO, base32_label(HELLO)):
            response = await crn.client.get("/hi", headers={"host": f"{label}.vm.crn.test"})
            assert response.status_code == 200
            assert response.text == "GET /hi "


async def test_unknown_and_malformed_hashes_are_404_with_a_json_error(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        unknown = await crn.client.get(f"/vm/{vm_hash_of(7)}/")
        assert unknown.status_code == 404
        assert "not found" in unknown.json()["error"]
        malformed = await crn.client.get("/vm/not-a-hash/")
        assert malformed.status_code == 404
        assert "64 hex" in malformed.json()["error"]


async def test_missing_code_is_400_code_runtime_or_data_not_available(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        crn.ccn.add_program(HELLO)  # its code STORE is not on the CCN
        response = await crn.client.get(f"/vm/{HELLO}/")
        assert response.status_code == 400
        assert response.json()["error"].startswith("Code, runtime or data not available")
        assert crn.executor.started == []


async def test_a_store_whose_bytes_do_not_match_its_hash_is_refused(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        file_hash = crn.ccn.add_store(CODE_REF, b"right bytes")
        crn.ccn.files[file_hash] = b"other bytes"
        crn.ccn.add_program(HELLO)
        response = await crn.client.get(f"/vm/{HELLO}/")
        assert response.status_code == 400
        assert "another hash" in response.json()["error"]
        assert not list((crn.node.settings.cache_dir / "files").glob("*"))


async def test_an_exception_is_500_with_its_traceback(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_hello(crn)
        response = await crn.client.get(f"/vm/{HELLO}/raise")
        assert response.status_code == 500
        assert "Traceback" in response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert crn.node.pool.running_count() == 1  # the program keeps running


async def test_a_crash_is_502_and_the_next_request_gets_a_fresh_guest(tmp_path: Path) -> None:
    async with crn_app(tmp_path) as crn:
        publish_hello(crn)
        crashed = await crn.client.get(f"/vm/{HELLO}/crash")
        assert crashed.status_code == 502
        assert crn.node.pool.running_count() == 0
        again = await crn.client.get(f"/vm/{HELLO}/")
        assert again.status_code == 200
        assert len(crn.executor.started) == 2


async def test_a_request_past_the_time_limit_is_504_and_stops_the_program(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path) as crn:
        publish_hello(crn, timeout_seconds=1)
        response = await crn.client.get(f"/vm/{HELLO}/sleep")
        assert response.status_code == 504
        assert "1 s" in response.json()["error"]
        assert crn.node.pool.running_count() == 0
        assert crn.executor.running == []


async def test_a_program_that_asks_for_too_much_is_503_insufficient_capacity(
    tmp_path: Path,
) -> None:
    async with crn_app(tmp_path, memory_mib=100) as crn:
        publish_hello(crn, memory=128)
        response = await crn.client.get(f"/vm/{HELLO}/")
        assert response.status_code == 503
        assert response.json()["error"].startswith("Insufficient capacity")
