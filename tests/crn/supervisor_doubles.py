"""Test doubles for the supervisor: an executor whose guests are coroutines answering the real
frame protocol over socket pairs (no processes), one that also boots "instances" (a TCP server
answering an SSH banner on the forwarded port), and programs prepared without a CCN."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alephnet.crn.executors.base import (
    CodeSpec,
    ExecutionSpec,
    ExecutorError,
    ExitReason,
    InstanceSpec,
    Resources,
)
from alephnet.crn.executors.guest_link import GuestLink
from alephnet.crn.guest.frames import Frame, FrameType, read_frame, write_frame
from alephnet.crn.supervisor.program_spec import PreparedProgram
from alephnet.protocol.cid import ipfs_cid_v0
from alephnet.sdk._instance import InstanceSettings, instance_content
from alephnet.sdk._program import ProgramSettings, program_content
from tests.crn.message_feed import MessageFeed, envelope

OWNER = "0x" + "ab" * 20
CODE_REF = "c0de" * 16
ROOTFS_REF = "d15c" * 16
SSH_BANNER = b"SSH-2.0-fake\r\n"


def vm_hash_of(number: int) -> str:
    return f"{number:064x}"


async def _fake_guest(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, code: Path | None = None
) -> None:
    """Answers by path: `/raise` fails, `/crash` drops the stream, `/sleep` never answers,
    `/print` logs a line, `/code` answers the program's code file; anything else echoes the
    path."""
    while (frame := await read_frame(reader)) is not None:
        if frame.type is FrameType.HALT:
            await write_frame(writer, Frame(FrameType.HALTED))
            break
        if frame.type is not FrameType.REQUEST:
            continue
        request_id, path = frame.header["id"], frame.header["scope"]["path"]
        if path == "/crash":
            break
        if path == "/sleep":
            continue
        if path == "/raise":
            failure = {
                "id": request_id,
                "error": "ValueError: asked to fail",
                "traceback": "Traceback (most recent call last):\nValueError",
            }
            await write_frame(writer, Frame(FrameType.FAILURE, failure))
            continue
        if path == "/print":
            await write_frame(writer, Frame(FrameType.LOG, {"stream": "stdout", "line": "printed"}))
        headers = [["content-type", "text/plain"], ["vary", "x"], ["content-length", "999"]]
        body = f"{frame.header['scope']['method']} {path} {frame.body.decode()}".encode()
        if path == "/code" and code is not None:
            body = code.read_bytes()
        await write_frame(
            writer,
            Frame(FrameType.RESPONSE, {"id": request_id, "status": 200, "headers": headers}, body),
        )
    writer.close()


class FakeExecution:
    def __init__(self, spec: ExecutionSpec, link: GuestLink, guest: asyncio.Task[None]) -> None:
        self.spec = spec
        self.link = link
        self.exit_reason = ExitReason.RUNNING
        self._guest = guest
        self._ended = asyncio.Event()
        guest.add_done_callback(lambda _task: self._end(ExitReason.EXITED))

    async def wait(self) -> ExitReason:
        await self._ended.wait()
        return self.exit_reason

    async def stop(self, grace_seconds: float = 5.0) -> None:
        if not self._ended.is_set():
            self.exit_reason = ExitReason.STOPPED
            await self.link.halt(grace_seconds)
            self._guest.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._guest
        await self.link.close()
        self._end(ExitReason.STOPPED)

    def _end(self, reason: ExitReason) -> None:
        if self.exit_reason is ExitReason.RUNNING:
            self.exit_reason = reason
        self._ended.set()


@dataclass
class FakeExecutor:
    name: str = "fake"
    start_delay: float = 0.0
    failure: str | None = None
    started: list[ExecutionSpec] = field(default_factory=list)
    executions: list[FakeExecution] = field(default_factory=list)

    async def start(self, spec: ExecutionSpec) -> FakeExecution:
        await asyncio.sleep(self.start_delay)
        if self.failure is not None:
            raise ExecutorError(self.failure)
        self.started.append(spec)
        host_socket, guest_socket = socket.socketpair()
        host_reader, host_writer = await asyncio.open_connection(sock=host_socket)
        guest_reader, guest_writer = await asyncio.open_connection(sock=guest_socket)
        guest = asyncio.create_task(_fake_guest(guest_reader, guest_writer, spec.code.path))
        execution = FakeExecution(spec, GuestLink(host_reader, host_writer), guest)
        self.executions.append(execution)
        return execution

    @property
    def running(self) -> list[FakeExecution]:
        return [
            execution
            for execution in self.executions
            if execution.exit_reason is ExitReason.RUNNING
        ]


class FakeInstanceExecution:
    """An instance "VM": after `boot_delay` a TCP server on the forwarded SSH port answers an
    SSH banner (so readiness is real), and its console file gets a line."""

    def __init__(self, spec: InstanceSpec, boot_delay: float) -> None:
        self.spec = spec
        self.exit_reason = ExitReason.RUNNING
        self.console_path = spec.work_dir / "console.log"
        self.console_path.write_text(f"booting {spec.hostname}\n")
        self._server: asyncio.Server | None = None
        self._ended = asyncio.Event()
        self._boot = asyncio.create_task(self._boot_after(boot_delay))

    @property
    def ready(self) -> bool:
        return self._server is not None and self.exit_reason is ExitReason.RUNNING

    async def _boot_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._server = await asyncio.start_server(
            self._greet, "127.0.0.1", self.spec.forwarded_ports[22].host
        )
        with self.console_path.open("a") as console:
            console.write("sshd: listening\r\n")

    @staticmethod
    async def _greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSH_BANNER)
        await writer.drain()
        writer.close()

    async def wait(self) -> ExitReason:
        await self._ended.wait()
        return self.exit_reason

    async def stop(self, grace_seconds: float = 30.0) -> None:
        await self._end(ExitReason.STOPPED)

    async def crash(self) -> None:
        await self._end(ExitReason.EXITED)

    async def _end(self, reason: ExitReason) -> None:
        if self.exit_reason is ExitReason.RUNNING:
            self.exit_reason = reason
        self._boot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._boot
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._ended.set()


@dataclass
class FakeVmExecutor(FakeExecutor):
    """The fake executor that also boots instances, as the micro-VM executor does."""

    boot_delay: float = 0.05
    instances: list[FakeInstanceExecution] = field(default_factory=list)

    async def start_instance(self, spec: InstanceSpec) -> FakeInstanceExecution:
        if self.failure is not None:
            raise ExecutorError(self.failure)
        instance = FakeInstanceExecution(spec, self.boot_delay)
        self.instances.append(instance)
        return instance

    @property
    def running_instances(self) -> list[FakeInstanceExecution]:
        return [vm for vm in self.instances if vm.exit_reason is ExitReason.RUNNING]


def prepared_program(
    vm_hash: str,
    work_root: Path,
    *,
    memory: int = 128,
    seconds: int = 2,
    persistent: bool = False,
) -> PreparedProgram:
    settings = ProgramSettings(
        entrypoint="main:app", memory=memory, timeout_seconds=seconds, persistent=persistent
    )
    content = program_content(settings, OWNER, "ETH", CODE_REF, time.time())
    spec = ExecutionSpec(
        vm_hash=vm_hash,
        resources=Resources(vcpus=1, memory_mib=memory, seconds=float(seconds)),
        code=CodeSpec(work_root / "code.zip", "zip", "main:app", "asgi"),
        internet=False,
        work_dir=work_root / "executions" / vm_hash,
    )
    return PreparedProgram(vm_hash, OWNER, content, spec)


def preparer(work_root: Path, **options: int | bool) -> Callable[[str], Awaitable[PreparedProgram]]:
    async def prepare(vm_hash: str) -> PreparedProgram:
        return prepared_program(vm_hash, work_root, **options)  # type: ignore[arg-type]

    return prepare


class FakeCcn:
    """The CCN routes a CRN reads, over an `httpx.MockTransport`: messages by hash, STORE
    amends, raw files. Anything else answers 503 (the runtime publishing retries). Its message
    feed (`feed`, a WebSocket on loopback) carries what `send_forget` and `send_amend` do."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.aggregates: dict[str, dict[str, Any]] = {}
        self.forgotten: set[str] = set()
        self.feed = MessageFeed()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def add_store(
        self,
        store_hash: str,
        data: bytes,
        owner: str = OWNER,
        *,
        engine: str = "storage",
        amends: str | None = None,
    ) -> str:
        file_hash = ipfs_cid_v0(data) if engine == "ipfs" else hashlib.sha256(data).hexdigest()
        self.files[file_hash] = data
        content = {"address": owner, "item_hash": file_hash, "item_type": engine, "time": 1.0}
        if amends is not None:
            content["ref"] = amends
        self.messages[store_hash] = {"type": "STORE", "item_hash": store_hash, "content": content}
        return file_hash

    def add_instance(
        self, vm_hash: str, *, owner: str = OWNER, rootfs: str = ROOTFS_REF, **settings: Any
    ) -> None:
        instance = InstanceSettings(
            **{"rootfs_size": 1024, "memory": 256, **settings}, rootfs=rootfs
        )
        content = instance_content(instance, owner, "ETH", time.time())
        self.messages[vm_hash] = {
            "type": "INSTANCE",
            "item_hash": vm_hash,
            "content": content.model_dump(mode="json", exclude_none=True),
        }

    def forget(self, item_hash: str) -> None:
        """As a FORGET does: the message is no longer served, its status says why."""
        self.messages.pop(item_hash)
        self.forgotten.add(item_hash)

    def send_forget(self, forget_hash: str, *targets: str, reason: str = "") -> None:
        """A FORGET of `targets` by their owner, processed: on the feed."""
        for target in targets:
            self.forget(target)
        content = {"address": OWNER, "hashes": list(targets), "reason": reason, "time": 1.0}
        self.feed.publish(envelope("FORGET", forget_hash, content))

    def send_amend(self, store_hash: str, data: bytes, ref: str, owner: str = OWNER) -> str:
        """A STORE of `data` amending `ref`, processed: served as the latest amend, and on
        the feed. Returns the file's hash."""
        file_hash = self.add_store(store_hash, data, owner, amends=ref)
        self.feed.publish(envelope("STORE", store_hash, self.messages[store_hash]["content"]))
        return file_hash

    def add_program(
        self, vm_hash: str, *, owner: str = OWNER, code_ref: str = CODE_REF, **settings: Any
    ) -> None:
        program = ProgramSettings(entrypoint="main:app", **settings)
        content = program_content(program, owner, "ETH", code_ref, time.time())
        self.messages[vm_hash] = {
            "type": "PROGRAM",
            "item_hash": vm_hash,
            "content": content.model_dump(mode="json", exclude_none=True),
        }

    def _amends(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        """STOREs whose `content.ref` is `refs`, owned by `owners` (newest last added)."""
        hits = [
            message
            for message in self.messages.values()
            if message["type"] == params.get("msgTypes")
            and message["content"].get("ref") == params.get("refs")
            and message["content"]["address"] == params.get("owners")
        ]
        return hits[::-1][:1]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        if path == "/api/v0/messages.json":
            if "hashes" in params:
                found = self.messages.get(params["hashes"])
                return httpx.Response(200, json={"messages": [found] if found else []})
            return httpx.Response(200, json={"messages": self._amends(params)})
        if path.startswith("/api/v0/messages/") and path.endswith("/status"):
            item_hash = path.split("/")[4]
            if item_hash in self.forgotten:
                return httpx.Response(200, json={"status": "forgotten", "item_hash": item_hash})
            if item_hash in self.messages:
                return httpx.Response(200, json={"status": "processed", "item_hash": item_hash})
            return httpx.Response(404, json={"error": "not found"})
        if path.startswith("/api/v0/storage/raw/"):
            data = self.files.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, content=data) if data is not None else httpx.Response(404)
        if path.startswith("/api/v0/aggregates/"):
            address = path.rsplit("/", 1)[1].removesuffix(".json")
            return httpx.Response(200, json={"data": self.aggregates.get(address, {})})
        return httpx.Response(503, json={"error": "not in this fake"})
