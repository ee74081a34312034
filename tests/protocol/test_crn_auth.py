"""CRN request authentication: scheduler signatures and owner (operator key) signatures."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from alephnet.protocol.chains.evm import EvmSigner
from alephnet.protocol.crn_auth import (
    SIGNED_OPERATION_HEADER,
    SIGNED_PUBKEY_HEADER,
    AllocationReplayGuard,
    CrnAuthError,
    OperatorSession,
    sign_allocation_request,
    verify_allocation_request,
    verify_operator_request,
)

NOW = 1_790_000_000.0
BODY = b'{"persistent_vms": [], "instances": []}'
PATH = "/control/allocations"

# The worked example of the reference CRN's owner-authentication document (domain localhost,
# GET /, signed for 2010-12-25T17:05:55Z): our verifier must accept what its clients send.
REFERENCE_PUBKEY_HEADER = json.dumps(
    {
        "payload": "7b227075626b6579223a207b22637276223a2022502d323536222c20226b7479223a20224543"
        "222c202278223a20223962446f34754949686b735a5272677a31477972325050656d4334364e735f47305771"
        "44364d4d6a774673222c202279223a20226f48343342786c7854334f3065733336685967713143372d61325a"
        "535a71456d5f6b56356e636c79667a59227d2c2022616c67223a20224543445341222c2022646f6d61696e22"
        "3a20226c6f63616c686f7374222c202261646472657373223a20223078624132366231353335393144343632"
        "30666432413734304130463165463730644164363532336230222c202265787069726573223a202232303130"
        "2d31322d32365431373a30353a35355a227d",
        "signature": "0xea99ef5f1a10f2d103f94dce4f8650730315246e6d15cf9e5862c11adfd6482703cd1ec68"
        "4a4f3dffb36ae5c4a57b08a47108fe55e3b2454e45f6e63342e0f471b",
    }
)
REFERENCE_OPERATION_HEADER = json.dumps(
    {
        "payload": "7b2274696d65223a2022323031302d31322d32355431373a30353a35355a222c20226d657468"
        "6f64223a2022474554222c202270617468223a20222f222c2022646f6d61696e223a20226c6f63616c686f73"
        "74227d",
        "signature": "6f737654cd00e4d4155d387509978e7a9a4d27f5b59c9492ac1dec7b09f9aecc58c9365526b"
        "bddd6211b65f40f4956c50ab26f395f7170ce1698c11e28e25d3a",
    }
)
REFERENCE_TIME = datetime.fromisoformat("2010-12-25T17:05:55+00:00").timestamp()


@pytest.fixture(scope="module")
def scheduler() -> EvmSigner:
    return EvmSigner.generate()


@pytest.fixture(scope="module")
def session(scheduler: EvmSigner) -> OperatorSession:
    return OperatorSession.create(scheduler, "crn.example.org", NOW)


def test_allocation_signature_names_its_signer(scheduler: EvmSigner) -> None:
    header = sign_allocation_request(scheduler, "POST", PATH, BODY, NOW)
    verified = verify_allocation_request(header, "POST", PATH, "", BODY, NOW + 10)
    assert verified.signer == scheduler.address
    assert verified.iat == int(NOW)


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "now", "reason"),
    [
        ("POST", PATH, "", b"{}", NOW, "another body"),
        ("POST", "/control/other", "", BODY, NOW, "another method or path"),
        ("PUT", PATH, "", BODY, NOW, "another method or path"),
        ("POST", PATH, "a=1", BODY, NOW, "query string"),
        ("POST", PATH, "", BODY, NOW + 301, "more than 300 s"),
        ("POST", PATH, "", BODY, NOW - 301, "more than 300 s"),
    ],
)
def test_allocation_signature_binds_the_request(
    scheduler: EvmSigner,
    method: str,
    path: str,
    query: str,
    body: bytes,
    now: float,
    reason: str,
) -> None:
    header = sign_allocation_request(scheduler, "POST", PATH, BODY, NOW)
    with pytest.raises(CrnAuthError, match=reason) as caught:
        verify_allocation_request(header, method, path, query, body, now)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Aleph-EIP191-V1 sig=0x00",
        "Aleph-EIP191-V1 sig=0x00,payload=zz",
        "Aleph-EIP191-V1 sig=0x00,payload=7b7d,extra=1",
        "Aleph-EIP191-V1 sig=0x00,payload=" + b'{"iat": "now"}'.hex(),
    ],
)
def test_malformed_allocation_headers_are_refused(header: str | None) -> None:
    with pytest.raises(CrnAuthError) as caught:
        verify_allocation_request(header, "POST", PATH, "", BODY, NOW)
    assert caught.value.status == 401


def test_a_signature_by_another_key_names_that_key(scheduler: EvmSigner) -> None:
    """Whether the signer is authorised is the CRN's decision: it must see the true signer."""
    other = EvmSigner.generate()
    header = sign_allocation_request(other, "POST", PATH, BODY, NOW)
    verified = verify_allocation_request(header, "POST", PATH, "", BODY, NOW)
    assert verified.signer == other.address != scheduler.address


def test_replay_guard_accepts_each_signature_time_once(scheduler: EvmSigner) -> None:
    guard = AllocationReplayGuard()
    first = verify_allocation_request(
        sign_allocation_request(scheduler, "POST", PATH, BODY, NOW), "POST", PATH, "", BODY, NOW
    )
    later = verify_allocation_request(
        sign_allocation_request(scheduler, "POST", PATH, BODY, NOW + 1),
        "POST",
        PATH,
        "",
        BODY,
        NOW,
    )
    assert guard.accept(first)
    assert not guard.accept(first)
    assert guard.accept(later)
    assert not guard.accept(first)


def test_operator_session_round_trip(scheduler: EvmSigner, session: OperatorSession) -> None:
    headers = session.headers("POST", "/control/machine/abc/stop", NOW + 5)
    address = verify_operator_request(
        headers[SIGNED_PUBKEY_HEADER],
        headers[SIGNED_OPERATION_HEADER],
        "POST",
        "/control/machine/abc/stop",
        "crn.example.org",
        NOW,
    )
    assert address == scheduler.address


def test_the_reference_documents_example_verifies() -> None:
    address = verify_operator_request(
        REFERENCE_PUBKEY_HEADER, REFERENCE_OPERATION_HEADER, "GET", "/", "localhost", REFERENCE_TIME
    )
    assert address == "0xbA26b153591D4620fd2A740A0F1eF70dAd6523b0"


@pytest.mark.parametrize(
    ("method", "path", "domain", "now", "reason"),
    [
        ("GET", "/control/machine/abc/stop", "crn.example.org", NOW, "another method"),
        ("POST", "/control/machine/xyz/stop", "crn.example.org", NOW, "another path"),
        ("POST", "/control/machine/abc/stop", "other.example.org", NOW, "domain"),
        ("POST", "/control/machine/abc/stop", "crn.example.org", NOW + 121, "120 s"),
        ("POST", "/control/machine/abc/stop", "crn.example.org", NOW + 2 * 86400, "expired"),
    ],
)
def test_operator_signature_binds_the_call(
    session: OperatorSession, method: str, path: str, domain: str, now: float, reason: str
) -> None:
    headers = session.headers("POST", "/control/machine/abc/stop", NOW)
    with pytest.raises(CrnAuthError, match=reason) as caught:
        verify_operator_request(
            headers[SIGNED_PUBKEY_HEADER],
            headers[SIGNED_OPERATION_HEADER],
            method,
            path,
            domain,
            now,
        )
    assert caught.value.status == 401


def test_an_operation_signed_by_another_key_is_refused(
    scheduler: EvmSigner, session: OperatorSession
) -> None:
    intruder = OperatorSession.create(EvmSigner.generate(), "crn.example.org", NOW)
    operation = intruder.headers("POST", "/x", NOW)[SIGNED_OPERATION_HEADER]
    with pytest.raises(CrnAuthError, match="does not verify"):
        verify_operator_request(
            session.signed_pubkey, operation, "POST", "/x", "crn.example.org", NOW
        )


def test_a_key_claiming_another_address_is_refused(session: OperatorSession) -> None:
    header = json.loads(session.signed_pubkey)
    claims = json.loads(bytes.fromhex(header["payload"]))
    claims["address"] = EvmSigner.generate().address
    header["payload"] = json.dumps(claims).encode().hex()
    operation = session.headers("POST", "/x", NOW)[SIGNED_OPERATION_HEADER]
    with pytest.raises(CrnAuthError, match="not signed by its address") as caught:
        verify_operator_request(json.dumps(header), operation, "POST", "/x", "crn.example.org", NOW)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("pubkey", "operation"),
    [
        (None, "{}"),
        ("not json", "{}"),
        ('{"payload": 1, "signature": "00"}', "{}"),
        ('{"payload": "zz", "signature": "00"}', "{}"),
    ],
)
def test_malformed_operator_headers_are_bad_requests(pubkey: str | None, operation: str) -> None:
    with pytest.raises(CrnAuthError) as caught:
        verify_operator_request(pubkey, operation, "POST", "/x", "crn.example.org", NOW)
    assert caught.value.status == 400
