"""`alephnet node list|core|compute` against a real node: a test key publishes a node registry
(`corechannel` aggregate) and the CLI reads it back through `--owner`."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Cli

pytestmark = pytest.mark.slow

CCN_HASH = "c" * 64
CRN_HASH = "a" * 64
REGISTRY = {
    "nodes": [
        {
            "hash": CCN_HASH,
            "name": "core-one",
            "status": "active",
            "score": 0.931,
            "resource_nodes": [CRN_HASH],
        },
        {"hash": "d" * 64, "name": "core-two"},
    ],
    "resource_nodes": [
        {
            "hash": CRN_HASH,
            "name": "compute-one",
            "address": "https://crn.example.org/",
            "status": "linked",
            "parent": CCN_HASH,
        }
    ],
}


@pytest.fixture(scope="module")
def owner(cli: Cli) -> str:
    """The test account, publishing the registry."""
    cli.run("aggregate", "set", "corechannel", "--content", json.dumps(REGISTRY))
    address: str = cli.json("account", "show")["address"]
    return address


def test_node_list_shows_core_and_compute_nodes(cli: Cli, owner: str) -> None:
    listed = cli.json("node", "list", "--owner", owner)
    assert [node["name"] for node in listed["core_nodes"]] == ["core-one", "core-two"]
    assert listed["core_nodes"][0]["resource_nodes"] == [CRN_HASH]
    assert listed["core_nodes"][1]["score"] is None
    (crn,) = listed["resource_nodes"]
    assert (crn["hash"], crn["address"], crn["parent"]) == (
        CRN_HASH,
        "https://crn.example.org/",
        CCN_HASH,
    )
    table = cli.run("node", "list", "--owner", owner).stdout
    assert "core nodes (2)" in table
    assert "compute nodes (1)" in table
    crn_row = next(line for line in table.splitlines() if "compute-one" in line)
    assert "core-one" in crn_row  # the parent, by name
    assert "0.93" in next(line for line in table.splitlines() if CCN_HASH in line)


def test_type_and_the_official_cli_s_aliases(cli: Cli, owner: str) -> None:
    core = cli.json("node", "list", "--type", "core", "--owner", owner)
    assert list(core) == ["core_nodes"]
    assert cli.json("node", "core", "--owner", owner) == core
    compute = cli.json("node", "compute", "--owner", owner)
    assert [node["name"] for node in compute["resource_nodes"]] == ["compute-one"]
    table = cli.run("node", "compute", "--owner", owner).stdout
    assert "compute-one" in table
    assert "core-two" not in table


def test_a_network_without_a_registry(cli: Cli) -> None:
    failed = cli.run("node", "list", expect=1)
    assert "no node registry on this network" in failed.stderr
    assert "--owner" in failed.stderr
    assert cli.run("node", "list", "--type", "bogus", expect=2).stderr


def test_an_empty_registry(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = Cli(cli.api_url, tmp_path_factory.mktemp("empty-registry-home"))
    other.run("account", "create", "--name", "empty")
    other.run("aggregate", "set", "corechannel", "--content", '{"nodes": []}')
    address = other.json("account", "show")["address"]
    output = other.run("node", "list", "--owner", address).stdout
    assert "no core nodes" in output
    assert "no compute nodes" in output
    assert other.json("node", "list", "--owner", address) == {
        "core_nodes": [],
        "resource_nodes": [],
    }
