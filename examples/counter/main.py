"""A counter kept on a persistent volume: it survives restarts of the program and of the CRN.

`GET /` adds one and answers `{"count": n}`; `GET /value` answers without counting. The volume
is mounted at `COUNTER_DIR` (default `/var/lib/counter`, as in the README's deploy command).
"""

import json
import os
from pathlib import Path

COUNTER_DIR = Path(os.environ.get("COUNTER_DIR", "/var/lib/counter"))


def read_count():
    try:
        return int((COUNTER_DIR / "count").read_text())
    except (FileNotFoundError, ValueError):
        return 0


def write_count(count):
    """Written to a temporary file and renamed: a crash never leaves half a number."""
    temporary = COUNTER_DIR / "count.tmp"
    with temporary.open("w") as output:
        output.write(str(count))
        output.flush()
        os.fsync(output.fileno())
    os.replace(temporary, COUNTER_DIR / "count")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    count = read_count()
    if scope["path"] == "/":
        count += 1
        write_count(count)
    body = json.dumps({"count": count}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
