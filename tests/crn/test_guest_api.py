"""The guest API: a program's calls to `ALEPH_API_HOST`, carried as API_REQUEST frames to the
supervisor, which proxies what it allows to a (fake) CCN."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from alephnet.crn.executors import guest_link
from alephnet.crn.executors.base import CodeSpec, ExecutionSpec, Resources
from alephnet.crn.executors.guest_link import ApiRequest
from alephnet.crn.executors.microvm import MicroVMExecutor
from alephnet.crn.guest import api as guest_api_server
from alephnet.crn.guest.api import (
    GUEST_API_PORT,
    MAX_API_BODY_BYTES,
    GuestApiServer,
    HttpError,
    read_request,
)
from alephnet.crn.guest.configuration import GuestConfiguration
from alephnet.crn.guest.frames import Frame, FrameType
from alephnet.crn.supervisor import guest_api
from alephnet.crn.supervisor.guest_api import GuestApiProxy
from tests.crn.guest_process import configured_guest
from tests.crn.programs import http_scope, zip_program
from tests.crn.test_guest_link import linked

CCN_URL = "http://ccn.test:4024"


@dataclass
class FakeCcn:
    """A CCN that records what reaches it and answers from `answers` (path -> response)."""

    seen: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.seen.append(request)
        if request.url.path == "/api/v0/slow":
            await asyncio.sleep(10)
        if request.url.path == "/api/v0/big":
            return httpx.Response(200, content=b"x" * 2048)
        document = {"path": request.url.path, "query": request.url.query.decode()}
        if request.method == "POST":
            document["posted"] = json.loads(request.content)
        return httpx.Response(
            200, json=document, headers={"x-ccn": "1", "content-encoding": "identity"}
        )


@pytest.fixture
def ccn() -> FakeCcn:
    return FakeCcn()


@pytest.fixture
def proxy(ccn: FakeCcn) -> GuestApiProxy:
    return GuestApiProxy(CCN_URL, transport=httpx.MockTransport(ccn))


def api_request(
    path: str, method: str = "GET", body: bytes = b"", query: str = "", **headers: str
) -> ApiRequest:
    return ApiRequest(method, path, query, list(headers.items()), body)


async def test_reads_reach_the_ccn_with_their_query(proxy: GuestApiProxy, ccn: FakeCcn) -> None:
    answer = await proxy.handle(api_request("/api/v0/aggregates/0xab.json", query="keys=a,b"))
    assert answer.status == 200
    assert json.loads(answer.body) == {"path": "/api/v0/aggregates/0xab.json", "query": "keys=a,b"}
    names = [name.lower() for name, _ in answer.headers]
    assert "x-ccn" in names
    assert "content-length" not in names
    assert "content-encoding" not in names
    assert str(ccn.seen[0].url) == f"{CCN_URL}/api/v0/aggregates/0xab.json?keys=a,b"


async def test_messages_are_posted_as_they_are_without_the_programs_other_headers(
    proxy: GuestApiProxy, ccn: FakeCcn
) -> None:
    message = {"message": {"item_hash": "ab" * 32}, "sync": True}
    answer = await proxy.handle(
        api_request(
            "/api/v0/messages",
            "POST",
            json.dumps(message).encode(),
            **{"content-type": "application/json", "authorization": "Bearer x", "cookie": "c"},
        )
    )
    assert (answer.status, json.loads(answer.body)["posted"]) == (200, message)
    forwarded = ccn.seen[0].headers
    assert forwarded["content-type"] == "application/json"
    assert "authorization" not in forwarded
    assert "cookie" not in forwarded
    pubsub = await proxy.handle(api_request("/api/v0/p2p/pubsub/pub", "POST", b"{}"))
    assert pubsub.status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/metrics", 404),
        ("GET", "/api/v0/../../metrics", 404),
        ("GET", "/api/v0/%2e%2e/%2E%2E/metrics", 404),
        ("GET", "@evil.test/api/v0/info", 404),
        ("GET", "/api/v0\\..\\metrics", 404),
        ("DELETE", "/api/v0/messages", 403),
        ("PUT", "/api/v0/messages", 403),
        ("POST", "/api/v0/storage/add_file", 403),
        ("POST", "/api/v0/aggregates/0xab.json", 403),
    ],
)
async def test_other_routes_are_refused_with_a_json_error(
    proxy: GuestApiProxy, ccn: FakeCcn, method: str, path: str, status: int
) -> None:
    answer = await proxy.handle(api_request(path, method))
    assert answer.status == status
    assert "guest API" in json.loads(answer.body)["error"]
    assert ccn.seen == []


async def test_bodies_over_the_limit_are_refused(proxy: GuestApiProxy, ccn: FakeCcn) -> None:
    too_big = b"x" * (MAX_API_BODY_BYTES + 1)
    answer = await proxy.handle(api_request("/api/v0/messages", "POST", too_big))
    assert answer.status == 413
    assert ccn.seen == []


async def test_a_ccn_answer_over_the_limit_is_a_502(
    proxy: GuestApiProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guest_api, "MAX_RESPONSE_BYTES", 1024)
    answer = await proxy.handle(api_request("/api/v0/big"))
    assert answer.status == 502
    assert "1024 bytes" in json.loads(answer.body)["error"]


async def test_a_slow_ccn_is_a_504(proxy: GuestApiProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest_api, "API_TIME_LIMIT", 0.2)
    answer = await proxy.handle(api_request("/api/v0/slow"))
    assert answer.status == 504


async def test_an_unreachable_ccn_is_a_502() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    proxy = GuestApiProxy(CCN_URL, transport=httpx.MockTransport(refuse))
    answer = await proxy.handle(api_request("/api/v0/info"))
    assert answer.status == 502
    assert "connection refused" in json.loads(answer.body)["error"]


# --- the link: API_REQUEST in, API_RESPONSE out ------------------------------------------


async def test_the_link_answers_api_requests_once_a_handler_is_set(proxy: GuestApiProxy) -> None:
    async with linked() as (link, guest):
        asked = {"id": 7, "method": "GET", "path": "/api/v0/info", "query_string": "a=1"}
        await guest.send(Frame(FrameType.API_REQUEST, {**asked, "headers": []}))
        await asyncio.sleep(0.05)  # arrives before the supervisor takes the link over
        link.set_api_handler(proxy.handle)
        frame = await guest.receive()
        assert (frame.type, frame.header["id"], frame.header["status"]) == (
            FrameType.API_RESPONSE,
            7,
            200,
        )
        assert json.loads(frame.body) == {"path": "/api/v0/info", "query": "a=1"}


async def test_the_link_answers_503_without_a_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest_link, "API_HANDLER_WAIT", 0.1)
    async with linked() as (_link, guest):
        await guest.send(Frame(FrameType.API_REQUEST, {"id": 1, "path": "/api/v0/info"}))
        frame = await guest.receive()
        assert (frame.type, frame.header["status"]) == (FrameType.API_RESPONSE, 503)


# --- the guest's HTTP server -------------------------------------------------------------


async def parsed(raw: bytes) -> tuple[str, dict[str, object], bytes]:
    reader = asyncio.StreamReader(limit=guest_api_server.MAX_API_HEAD_BYTES)
    reader.feed_data(raw)
    reader.feed_eof()
    return await read_request(reader)


async def test_the_guest_server_reads_a_request_into_frame_fields() -> None:
    method, fields, body = await parsed(
        b"POST /api/v0/messages?sync=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"
    )
    assert (method, body) == ("POST", b"{}")
    assert fields == {
        "method": "POST",
        "path": "/api/v0/messages",
        "query_string": "sync=1",
        "headers": [("content-type", "application/json")],
    }


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"nonsense\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nbroken header\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 70_000, 431),
    ],
)
async def test_the_guest_server_refuses_bad_requests(raw: bytes, status: int) -> None:
    with pytest.raises(HttpError) as refused:
        await parsed(raw)
    assert refused.value.status == status


async def test_requests_waiting_on_the_supervisor_get_503_when_the_guest_stops() -> None:
    sent: list[Frame] = []
    server = GuestApiServer(sent.append)
    url = await server.start(0)
    async with httpx.AsyncClient(base_url=url) as client:
        waiting = asyncio.create_task(client.get("/api/v0/info", params={"a": "1"}))
        while not sent:
            await asyncio.sleep(0.01)
        assert (sent[0].type, sent[0].header["query_string"]) == (FrameType.API_REQUEST, "a=1")
        await server.stop()
        answer = await waiting
    assert answer.status_code == 503
    assert answer.json() == {"error": "the guest is shutting down"}


# --- a real guest runtime whose program calls ALEPH_API_HOST -----------------------------

CALLER_APP = """
import asyncio, json, os, urllib.request

def call(method, path, body=None):
    request = urllib.request.Request(
        os.environ["ALEPH_API_HOST"] + path, data=body, method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    calls = [
        ("GET", "/api/v0/aggregates/0xab.json?keys=profile", None),
        ("POST", "/api/v0/messages", json.dumps({"message": {"n": 1}}).encode()),
        ("DELETE", "/api/v0/messages", None),
    ]
    results = [await asyncio.to_thread(call, *one) for one in calls]
    document = {"api_host": os.environ["ALEPH_API_HOST"], "results": results}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})
"""


async def test_a_guest_program_reaches_the_ccn_through_aleph_api_host(
    tmp_path: Path, proxy: GuestApiProxy, ccn: FakeCcn
) -> None:
    configuration = GuestConfiguration(
        vm_hash="ab" * 32,
        interface="asgi",
        encoding="zip",
        entrypoint="main:app",
        api_host=CCN_URL,
        api_port=0,  # the guest runs on the host here: any free loopback port
    )
    code = zip_program({"main.py": CALLER_APP})
    async with configured_guest(tmp_path, configuration, code) as guest:
        guest.link.set_api_handler(proxy.handle)
        response = await guest.link.request(http_scope("/"), b"", timeout=20)
    assert response.status == 200, response.body
    document = json.loads(response.body)
    assert document["api_host"].startswith("http://127.0.0.1:")
    read, posted, refused = document["results"]
    assert read == [200, {"path": "/api/v0/aggregates/0xab.json", "query": "keys=profile"}]
    assert posted[0] == 200
    assert posted[1]["posted"] == {"message": {"n": 1}}
    assert refused[0] == 403
    assert "not allowed" in refused[1]["error"]
    assert [request.method for request in ccn.seen] == ["GET", "POST"]


async def test_a_program_without_aleph_api_has_no_api_host(tmp_path: Path) -> None:
    configuration = GuestConfiguration(
        vm_hash="ab" * 32, interface="asgi", encoding="zip", entrypoint="main:app"
    )
    probe = (
        "import os, json\n"
        "async def app(scope, receive, send):\n"
        "    body = json.dumps(os.environ.get('ALEPH_API_HOST')).encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    async with configured_guest(tmp_path, configuration, zip_program({"main.py": probe})) as guest:
        response = await guest.link.request(http_scope("/"), b"", timeout=10)
    assert json.loads(response.body) is None


@pytest.mark.slow
async def test_a_micro_vm_program_reaches_the_ccn_without_a_network(
    tmp_path: Path, proxy: GuestApiProxy, ccn: FakeCcn
) -> None:
    """The same guest API in a micro-VM (TCG here: one boot, seconds), `internet` false."""
    code = tmp_path / "caller.zip"
    code.write_bytes(zip_program({"main.py": CALLER_APP}))
    spec = ExecutionSpec(
        vm_hash="cd" * 32,
        resources=Resources(vcpus=1, memory_mib=256, seconds=60),
        code=CodeSpec(code, "zip", "main:app", "asgi"),
        internet=False,
        work_dir=tmp_path / "vm",
        api_host=CCN_URL,
    )
    execution = await MicroVMExecutor().start(spec)
    try:
        execution.link.set_api_handler(proxy.handle)
        response = await execution.link.request(http_scope("/"), b"", timeout=60)
    finally:
        await execution.stop()
    assert response.status == 200, response.body
    document = json.loads(response.body)
    assert document["api_host"] == f"http://127.0.0.1:{GUEST_API_PORT}"
    assert [result[0] for result in document["results"]] == [200, 200, 403]
    assert [request.method for request in ccn.seen] == ["GET", "POST"]
