"""The guest runtime as a plain subprocess: every encoding and interface, lifespan, failures,
output forwarding and HALT, over a socket pair and over a tty-like character device."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from alephnet.crn.executors.guest_link import GuestFailure, GuestLink
from alephnet.crn.guest.channel import fd_streams
from alephnet.crn.guest.configuration import GuestConfiguration
from alephnet.crn.guest.frames import PROTOCOL_VERSION
from tests.crn.guest_process import LogLines, configured_guest, guest_process
from tests.crn.programs import (
    EXECUTABLE_SERVER,
    HELLO_APP,
    PROBE_APP,
    http_scope,
    squashfs_image,
    zip_program,
)


def asgi_configuration(encoding: str = "zip", **extra: object) -> GuestConfiguration:
    fields: dict[str, object] = {
        "vm_hash": "ab" * 32,
        "interface": "asgi",
        "encoding": encoding,
        "entrypoint": "main:app",
        **extra,
    }
    return GuestConfiguration(**fields)  # type: ignore[arg-type]


async def wait_for_line(logs: LogLines, expected: tuple[str, str], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while expected not in logs.lines:
        assert time.monotonic() < deadline, f"{expected} not in {logs.lines}"
        await asyncio.sleep(0.02)


async def test_zip_asgi_answers(tmp_path: Path) -> None:
    code = zip_program({"main.py": PROBE_APP})
    async with configured_guest(tmp_path, asgi_configuration(), code) as guest:
        response = await guest.link.request(http_scope("/hello"), b"", timeout=5)
        assert response.status == 200
        assert response.body == b"hello world"
        assert ("x-probe", "1") in response.headers
        echoed = await guest.link.request(http_scope("/echo", "POST"), b"body", timeout=5)
        assert echoed.body == b"body"


async def test_plain_source_is_executed(tmp_path: Path) -> None:
    configuration = asgi_configuration("plain")
    async with configured_guest(tmp_path, configuration, HELLO_APP.encode()) as guest:
        response = await guest.link.request(http_scope("/"), b"", timeout=5)
        assert (response.status, response.body) == (200, b"hello world")


async def test_squashfs_code_is_imported_from_its_mount(tmp_path: Path) -> None:
    image = squashfs_image({"main.py": PROBE_APP}, tmp_path / "code.squashfs")
    mount = tmp_path / "mounted"
    subprocess.run(["unsquashfs", "-d", str(mount), str(image)], check=True, capture_output=True)
    configuration = asgi_configuration("squashfs", code_mount=str(mount))
    async with configured_guest(tmp_path / "code", configuration, b"") as guest:
        response = await guest.link.request(http_scope("/"), b"", timeout=5)
        assert response.body == b"hello world"


async def test_executable_is_started_and_proxied(tmp_path: Path) -> None:
    configuration = GuestConfiguration(
        vm_hash="cd" * 32,
        interface="executable",
        encoding="zip",
        entrypoint="server.py",
        executable_port=8080,
    )
    code = zip_program({"server.py": EXECUTABLE_SERVER})
    async with configured_guest(tmp_path, configuration, code) as guest:
        response = await guest.link.request(http_scope("/some/path", query="a=1"), b"", timeout=20)
        assert (response.status, response.body) == (200, b"executable /some/path?a=1")
        spaced = await guest.link.request(http_scope("/a b/é"), b"", timeout=5)
        assert spaced.body == b"executable /a%20b/%C3%A9"
        await wait_for_line(guest.logs, ("stdout", "executable: listening"))
        assert await guest.link.halt(timeout=15)
        assert await guest.process.wait() == 0


async def test_lifespan_runs_at_start_and_on_halt(tmp_path: Path) -> None:
    code = zip_program({"main.py": PROBE_APP})
    async with configured_guest(tmp_path, asgi_configuration(), code) as guest:
        started = await guest.link.request(http_scope("/started"), b"", timeout=5)
        assert started.body == b"1"
        assert await guest.link.halt(timeout=10)
        assert ("stdout", "probe: shutdown") in guest.logs.lines
        assert await guest.process.wait() == 0


async def test_app_exception_is_a_failure_with_traceback(tmp_path: Path) -> None:
    code = zip_program({"main.py": PROBE_APP})
    async with configured_guest(tmp_path, asgi_configuration(), code) as guest:
        with pytest.raises(GuestFailure) as failure:
            await guest.link.request(http_scope("/raise"), b"", timeout=5)
        assert "the probe was asked to fail" in failure.value.error
        assert "ValueError" in failure.value.traceback
        # The guest keeps serving after an app exception.
        response = await guest.link.request(http_scope("/"), b"", timeout=5)
        assert response.status == 200


async def test_output_is_forwarded_line_by_line(tmp_path: Path) -> None:
    code = zip_program({"main.py": PROBE_APP})
    async with configured_guest(tmp_path, asgi_configuration(), code) as guest:
        await guest.link.request(http_scope("/print", "POST"), b"first\nsecond", timeout=5)
        await wait_for_line(guest.logs, ("stderr", "to stderr"))
        stdout = [line for stream, line in guest.logs.lines if stream == "stdout"]
        assert stdout[-2:] == ["first", "second"]


async def test_requests_are_served_concurrently(tmp_path: Path) -> None:
    code = zip_program({"main.py": PROBE_APP})
    async with configured_guest(tmp_path, asgi_configuration(), code) as guest:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                guest.link.request(http_scope("/sleep", query="seconds=0.5"), b"", timeout=5)
                for _ in range(8)
            )
        )
        assert [response.body for response in responses] == [b"slept"] * 8
        assert time.monotonic() - started < 2


async def test_variables_and_api_host_reach_the_program(tmp_path: Path) -> None:
    configuration = asgi_configuration(
        variables={"GREETING": "hi there"}, api_host="http://ccn.example:4024", api_port=0
    )
    async with configured_guest(tmp_path, configuration, zip_program({"main.py": PROBE_APP})) as g:
        greeting = await g.link.request(http_scope("/env", query="name=GREETING"), b"", timeout=5)
        api = await g.link.request(http_scope("/env", query="name=ALEPH_API_HOST"), b"", timeout=5)
        assert greeting.body == b"hi there"
        # The guest API (tests/crn/test_guest_api.py), never the CCN's own URL.
        assert api.body.startswith(b"http://127.0.0.1:")


@pytest.mark.parametrize(
    ("entrypoint", "code", "expected"),
    [
        ("main:missing", zip_program({"main.py": HELLO_APP}), "has no attribute 'missing'"),
        ("absent:app", zip_program({"main.py": HELLO_APP}), "No module named 'absent'"),
        ("main:app", b"not a zip", "not a valid zip archive"),
        ("main:app", zip_program({"main.py": "def broken(:\n"}), "SyntaxError"),
    ],
)
async def test_configuration_failure_reports_the_error(
    tmp_path: Path, entrypoint: str, code: bytes, expected: str
) -> None:
    async with guest_process(tmp_path) as guest:
        await guest.link.wait_ready(timeout=10)
        with pytest.raises(GuestFailure) as failure:
            await guest.link.configure(asgi_configuration(entrypoint=entrypoint), code, timeout=10)
        assert expected in failure.value.error
        assert failure.value.traceback


async def test_failing_lifespan_startup_fails_configuration(tmp_path: Path) -> None:
    source = (
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    async with guest_process(tmp_path) as guest:
        await guest.link.wait_ready(timeout=10)
        with pytest.raises(GuestFailure, match="no database"):
            await guest.link.configure(asgi_configuration("plain"), source.encode(), timeout=10)


async def test_guest_ends_when_the_supervisor_closes_the_channel(tmp_path: Path) -> None:
    async with configured_guest(
        tmp_path, asgi_configuration(), zip_program({"main.py": PROBE_APP})
    ) as guest:
        await guest.link.close()
        assert await asyncio.wait_for(guest.process.wait(), 10) == 0


async def test_channel_over_a_character_device(tmp_path: Path) -> None:
    """The micro-VM's virtio-serial port is a character device; a pty stands in for it."""
    master, slave = os.openpty()
    tty.setraw(slave)
    # The pty's /dev/pts name may belong to another devpts instance: open it through /proc.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alephnet.crn.guest",
        "--channel-device",
        f"/proc/{os.getpid()}/fd/{slave}",
        "--code-dir",
        str(tmp_path),
    )
    link = GuestLink(*await fd_streams(master))
    try:
        assert await link.wait_ready(timeout=10) == PROTOCOL_VERSION
        os.close(slave)
        await link.configure(asgi_configuration(), zip_program({"main.py": PROBE_APP}), 10)
        body = os.urandom(100_000)
        response = await link.request(http_scope("/echo", "POST"), body.hex().encode(), 10)
        assert response.body == body.hex().encode()
        assert await link.halt(timeout=10)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        await link.close()
        if process.returncode is None:
            process.kill()
            await process.wait()


STREAMING_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
    for part in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
"""

SILENT_APP = """
async def app(scope, receive, send):
    pass
"""


async def test_streamed_body_is_collected(tmp_path: Path) -> None:
    async with configured_guest(
        tmp_path, asgi_configuration("plain"), STREAMING_APP.encode()
    ) as guest:
        response = await guest.link.request(http_scope("/"), b"", timeout=5)
        assert (response.status, response.body) == (201, b"one two three")


async def test_app_without_response_is_a_failure(tmp_path: Path) -> None:
    async with configured_guest(tmp_path, asgi_configuration("plain"), SILENT_APP.encode()) as g:
        with pytest.raises(GuestFailure, match="without sending a response"):
            await g.link.request(http_scope("/"), b"", timeout=5)
