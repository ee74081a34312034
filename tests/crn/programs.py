"""Test programs for the CRN, and builders that package them as the encodings a CCN stores.

`PROBE_APP` is one small ASGI app (standard library only) whose routes exercise what the
tests check: answers, output, exceptions, memory, time, the file system and the network.
Reuse it from executor and supervisor tests: `zip_program({"main.py": PROBE_APP})`.
"""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path
from typing import Any

HELLO_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello world"})
"""

PROBE_APP = """
import asyncio, importlib, os, socket, subprocess, sys, time
from urllib.parse import parse_qs

STARTED = []


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            STARTED.append(time.time())
            print("probe: startup", flush=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            print("probe: shutdown", flush=True)
            await send({"type": "lifespan.shutdown.complete"})
            return


def probe(path, query, body):
    if path == "/read":
        if os.path.isdir(query["path"]):
            return "\\n".join(sorted(os.listdir(query["path"])))
        with open(query["path"]) as file:
            return file.read()
    if path == "/write":
        with open(query["path"], "w") as file:
            file.write(body.decode())
        return "written"
    if path == "/connect":
        with socket.create_connection((query.get("host", "127.0.0.1"), int(query["port"])), 3):
            return "connected"
    if path == "/alloc":
        hoard = bytearray(int(query["mib"]) * 1024 * 1024)
        for index in range(0, len(hoard), 4096):
            hoard[index] = 1
        return f"allocated {len(hoard)}"
    if path == "/loop":
        while True:
            pass
    if path == "/crash":
        os._exit(3)
    if path == "/raise":
        raise ValueError("the probe was asked to fail")
    if path == "/print":
        for line in body.decode().splitlines():
            print(line, flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        return "printed"
    if path == "/env":
        return os.environ.get(query["name"], "")
    if path == "/echo":
        return body.decode()
    if path == "/started":
        return str(len(STARTED))
    if path == "/spawn":
        children = []
        try:
            for _ in range(int(query["count"])):
                children.append(subprocess.Popen(["sleep", "5"]))
            return f"spawned {len(children)}"
        except OSError as error:
            return f"spawned {len(children)} then {type(error).__name__}"
        finally:
            for child in children:
                child.kill()
                child.wait()
    if path == "/import":
        return importlib.import_module(query["module"]).__name__
    if path == "/hostname":
        return socket.gethostname()
    if path == "/uid":
        return f"{os.getuid()} {os.getpid()}"
    return "hello world"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    message = await receive()
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if scope["path"] == "/sleep":
        await asyncio.sleep(float(query["seconds"]))
        answer = "slept"
    else:
        try:
            answer = probe(scope["path"], query, message.get("body", b""))
        except OSError as error:
            answer = f"error {type(error).__name__}: {error}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"x-probe", b"1")]})
    await send({"type": "http.response.body", "body": answer.encode()})
"""

# An executable program: a standard-library HTTP server on port 8080 that echoes the path.
EXECUTABLE_SERVER = """#!/usr/bin/env python3
import http.server, sys, time

time.sleep(0.3)  # booting: the guest retries until the port answers


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"executable {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print("served", self.path, flush=True)


print("executable: listening", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Handler).serve_forever()
"""


def zip_program(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


def squashfs_image(files: dict[str, str], image: Path) -> Path:
    """A squashfs image holding `files` (as a STORE'd code or data volume would be)."""
    source = image.with_suffix(".source")
    for name, content in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)
        if content.startswith("#!"):
            (source / name).chmod(0o755)
    subprocess.run(
        ["mksquashfs", str(source), str(image), "-noappend", "-quiet", "-no-progress"],
        check=True,
        capture_output=True,
    )
    return image


def http_scope(path: str, method: str = "GET", query: str = "", **extra: Any) -> dict[str, Any]:
    """A REQUEST header's scope, as the supervisor sends it."""
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [["host", "localhost"]],
        **extra,
    }
