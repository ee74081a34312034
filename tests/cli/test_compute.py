"""`program` and `instance` commands: messages on a real node, calls to a stand-in CRN served on
loopback (the reference CRN's routes and owner authentication)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ccn.node_process import free_port
from tests.cli.conftest import Cli
from tests.sdk.fake_crn import SSH_HOST_PORT, FakeCrn, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crn(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCrn]:
    """A CRN whose runtime is a file stored on the node, as `alephnet crn run` publishes one."""
    runtime_file = tmp_path_factory.mktemp("runtime") / "runtime.json"
    runtime_file.write_text('{"name": "test runtime"}')
    runtime = cli.json("file", "upload", str(runtime_file))["item_hash"]
    with serving(FakeCrn("localhost", runtime_ref=runtime)) as fake:
        yield fake


@pytest.fixture(scope="module")
def program(cli: Cli, crn: FakeCrn, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A program uploaded from a folder, which the CRN knows as the account's."""
    folder = tmp_path_factory.mktemp("hello")
    (folder / "main.py").write_text("async def app(scope, receive, send): ...\n")
    uploaded = cli.json(
        "program", "upload", str(folder), "--crn-url", crn.url,
        "--env", "MODE=test", "--memory", "512", "--persistent",
    )  # fmt: skip
    assert uploaded["status"] == "processed"
    assert uploaded["url"] == f"{crn.url}/vm/{uploaded['item_hash']}"
    crn.owners[uploaded["item_hash"]] = cli.json("account", "show")["address"]
    return str(uploaded["item_hash"])


def test_upload_publishes_code_and_program_on_the_crns_runtime(
    cli: Cli, crn: FakeCrn, program: str
) -> None:
    message = cli.json("program", "show", program)
    content = message["content"]
    assert content["runtime"]["ref"] == crn.runtime_ref
    assert content["code"]["entrypoint"] == "main:app"
    assert content["variables"] == {"MODE": "test"}
    assert content["resources"]["memory"] == 512
    assert content["on"]["persistent"] is True
    listed = cli.json("program", "list")
    assert [record["hash"] for record in listed] == [program]
    assert program in cli.run("program", "list").stdout
    assert "main:app" in cli.run("program", "show", program).stdout


def test_upload_without_a_runtime_on_the_node_says_what_to_do(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("app = None\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    failed = cli.run("program", "upload", str(tmp_path), "--crn-url", nowhere, expect=1)
    assert "is not on the node" in failed.stderr
    assert "--runtime" in failed.stderr


def test_call_prints_the_programs_answer(
    cli: Cli, crn: FakeCrn, program: str, tmp_path: Path
) -> None:
    answer = cli.run(
        "program", "call", program, "/hello", "-X", "post", "-d", "ping", "--crn-url", crn.url
    )
    assert json.loads(answer.stdout) == {"method": "POST", "path": "/hello", "body": "ping"}
    (tmp_path / "body.json").write_text('{"n": 1}')
    answer = cli.run(
        "program", "call", program, "/put", "-X", "PUT", "-d", f"@{tmp_path / 'body.json'}",
        "-H", "X-Test: yes", "--crn-url", crn.url,
    )  # fmt: skip
    assert json.loads(answer.stdout) == {
        "method": "PUT",
        "path": "/put",
        "body": '{"n": 1}',
        "x-test": "yes",
    }
    bad = cli.run("program", "call", program, "-H", "no colon", "--crn-url", crn.url, expect=2)
    assert "is not 'Name: value'" in bad.stderr
    failed = cli.run("program", "call", program, "/fail", "--crn-url", crn.url, expect=1)
    assert "answered 500" in failed.stderr
    assert f"alephnet program logs {program}" in failed.stderr


def test_logs_and_stop_are_signed_by_the_owner(cli: Cli, crn: FakeCrn, program: str) -> None:
    entries = cli.json("program", "logs", program, "--crn-url", crn.url)
    assert [entry["message"] for entry in entries] == ["booted", f"serving {program}"]
    assert (
        "2023-11-14T22:13:20Z out booted"
        in cli.run("program", "logs", program, "--crn-url", crn.url).stdout
    )
    assert f"stopped {program}" in cli.run("program", "stop", program, "--crn-url", crn.url).stdout
    assert ("stop", program) in crn.operations


def test_a_stranger_may_not_stop_it(cli: Cli, crn: FakeCrn, program: str) -> None:
    cli.run("account", "create", "--name", "stranger")
    failed = cli.run(
        "--account", "stranger", "program", "stop", program, "--crn-url", crn.url, expect=1
    )
    assert "Unauthorized sender" in failed.stderr
    assert "--account" in failed.stderr


def test_an_unreachable_crn_is_explained(cli: Cli, program: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    failed = cli.run("program", "call", program, "--crn-url", nowhere, expect=1)
    assert f"CRN at {nowhere} is not reachable" in failed.stderr
    assert "alephnet crn run" in failed.stderr


def test_instance_create_list_show_ssh_delete(cli: Cli, crn: FakeCrn, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    rootfs = cli.json("file", "upload", str(image))["item_hash"]
    key_file = tmp_path / "id.pub"
    key_file.write_text("ssh-ed25519 AAAAfromfile test\n")
    created = cli.json(
        "instance", "create", "--rootfs", rootfs, "--rootfs-size", "1024", "--name", "box",
        "--ssh-key", str(key_file), "--ssh-key", "ssh-ed25519 AAAAinline test",
    )  # fmt: skip
    assert created["status"] == "processed"
    instance = created["item_hash"]
    [listed] = cli.json("instance", "list")
    assert (listed["hash"], listed["name"], listed["rootfs"]) == (instance, "box", rootfs)
    content = cli.json("instance", "show", instance)["content"]
    assert content["authorized_keys"] == [
        "ssh-ed25519 AAAAfromfile test",
        "ssh-ed25519 AAAAinline test",
    ]
    assert content["rootfs"]["size_mib"] == 1024

    failed = cli.run("instance", "ssh", instance, "--print", "--crn-url", crn.url, expect=1)
    assert "runs no VM" in failed.stderr
    crn.owners[instance] = cli.json("account", "show")["address"]
    command = cli.run("instance", "ssh", instance, "--print", "--crn-url", crn.url).stdout
    assert command.strip() == f"ssh -p {SSH_HOST_PORT} root@127.0.0.1"

    cli.run("instance", "delete", instance, "--reason", "done")
    assert "forgotten" in cli.run("instance", "show", instance, expect=1).stderr
    assert cli.json("instance", "list") == []


def test_instance_commands_refuse_other_messages(cli: Cli, program: str) -> None:
    failed = cli.run("instance", "show", program, expect=1)
    assert f"no INSTANCE message {program}" in failed.stderr
