"""Acceptance: the official Aleph clients against a real alephnet node, offline.

One node per test module, started with the operator's command (`alephnet ccn run`) in its own
process, and stopped with SIGTERM at the end: it must then exit 0 within a few seconds.

The clients are kept off the network and away from the developer's own Aleph files: an account
from a fixed key with no chain (so no RPC provider), the API host given explicitly, and a
throw-away config home. The SDK reads its settings once, when first imported, so that home is
set here, before the test modules import it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from tests.ccn.node_process import NodeProcess
from tests.servers import ccn_process

SDK_CONFIG_HOME = tempfile.TemporaryDirectory(prefix="aleph-config-")  # removed at exit
os.environ["ALEPH_CONFIG_HOME"] = SDK_CONFIG_HOME.name

# Hardhat's first development key: well known, holds nothing anywhere.
PRIVATE_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with ccn_process(tmp_path_factory.mktemp("acceptance") / "ccn") as process:
        yield process
