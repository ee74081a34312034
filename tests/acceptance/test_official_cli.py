"""The official command line (aleph-client's `aleph`) against a real alephnet node.

Each command runs as a user would run it, with the node as `ALEPH_API_HOST`, the key given on
the command line, and a home and working directory of its own (the CLI reads `./.env` and its
config home), so that nothing outside the test is read or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import ADDRESS, PRIVATE_KEY
from tests.ccn.node_process import NodeProcess

pytestmark = pytest.mark.slow

ALEPH = Path(sys.executable).parent / "aleph"
COMMAND_TIMEOUT = 60.0


@pytest.fixture
def aleph(node: NodeProcess, tmp_path: Path) -> Any:
    """Run `aleph ARGS...`; return its standard output, failing with its output otherwise."""
    if not ALEPH.exists():
        pytest.fail(f"{ALEPH} is missing: install the test dependencies (aleph-client)")
    home = tmp_path / "home"
    home.mkdir()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("ALEPH_")
    } | {
        "HOME": str(home),
        "ALEPH_CONFIG_HOME": str(home / ".aleph-im"),
        "ALEPH_API_HOST": node.url,
        "NO_COLOR": "1",
    }

    def run(*arguments: str) -> str:
        completed = subprocess.run(
            [str(ALEPH), "--no-format", *arguments],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        assert completed.returncode == 0, (
            f"aleph {' '.join(arguments)} exited {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
        return completed.stdout

    return run


def json_in(output: str) -> Any:
    """The JSON document a command prints after its text lines."""
    return json.loads(output[output.index("{") :])


def wait_processed(node: NodeProcess, item_hash: str) -> dict[str, Any]:
    """The CLI sends without `sync`: the node acknowledges at once and processes just after."""
    for _ in range(100):
        body: dict[str, Any] = httpx.get(f"{node.url}/api/v0/messages/{item_hash}").json()
        if body["status"] != "pending":
            break
        time.sleep(0.1)
    assert body["status"] == "processed", body
    return body


def test_message_post_then_message_get(aleph: Any, node: NodeProcess, tmp_path: Path) -> None:
    content = {"text": f"hello {uuid.uuid4()}"}
    path = tmp_path / "content.json"
    path.write_text(json.dumps(content))
    posted = json_in(
        aleph(
            "message", "post", "--path", str(path), "--type", "note", "--private-key", PRIVATE_KEY
        )
    )
    assert posted["sender"] == ADDRESS
    wait_processed(node, posted["item_hash"])
    output = aleph("message", "get", posted["item_hash"])
    assert "processed" in output.splitlines()[0]
    fetched = json_in(output)
    assert fetched["item_hash"] == posted["item_hash"]
    assert fetched["content"]["content"] == content


def test_file_upload_stores_the_file(aleph: Any, node: NodeProcess, tmp_path: Path) -> None:
    data = f"uploaded {uuid.uuid4()}".encode()
    path = tmp_path / "upload.txt"
    path.write_bytes(data)
    stored = json_in(aleph("file", "upload", str(path), "--private-key", PRIVATE_KEY))
    file_hash = hashlib.sha256(data).hexdigest()
    assert stored["content"]["item_hash"] == file_hash
    wait_processed(node, stored["item_hash"])
    raw = httpx.get(f"{node.url}/api/v0/storage/raw/{file_hash}")
    assert (raw.status_code, raw.content) == (200, data)
