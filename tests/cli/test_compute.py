"""`program` and `instance` commands: messages on a real node, calls to a stand-in CRN served on
loopback (the reference CRN's routes and owner authentication)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli
from tests.sdk.fake_crn import SSH_HOST_PORT, FakeCrn
from tests.servers import serving, unused_loopback_url

pytestmark = pytest.mark.slow


def code_folder(folder: Path, version: int = 1) -> Path:
    """A program's code; each version is different bytes."""
    folder.mkdir(exist_ok=True)
    (folder / "main.py").write_text(
        f"VERSION = {version}\nasync def app(scope, receive, send): ...\n"
    )
    return folder


@pytest.fixture(scope="module")
def stranger(cli: Cli) -> str:
    """The name of a second account, which owns none of the test's VMs."""
    cli.run("account", "create", "--name", "stranger")
    return "stranger"


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
    folder = code_folder(tmp_path_factory.mktemp("hello"))
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
    nowhere = unused_loopback_url()
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


def test_a_stranger_may_not_stop_it(cli: Cli, crn: FakeCrn, program: str, stranger: str) -> None:
    failed = cli.run(
        "--account", stranger, "program", "stop", program, "--crn-url", crn.url, expect=1
    )
    assert "Unauthorized sender" in failed.stderr
    assert "--account" in failed.stderr


def test_an_unreachable_crn_is_explained(cli: Cli, program: str) -> None:
    nowhere = unused_loopback_url()
    failed = cli.run("program", "call", program, "--crn-url", nowhere, expect=1)
    assert f"CRN at {nowhere} is not reachable" in failed.stderr
    assert "alephnet crn run" in failed.stderr


def test_instance_create_list_show_ssh_delete(cli: Cli, crn: FakeCrn, tmp_path: Path) -> None:
    rootfs = disk_image(cli, tmp_path)
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


def disk_image(cli: Cli, folder: Path) -> str:
    """The STORE hash of a small disk image on the node."""
    image = folder / "disk.img"
    image.write_bytes(b"\0" * 4096)
    return str(cli.json("file", "upload", str(image))["item_hash"])


def test_instance_logs_stop_reboot_erase_are_signed_by_the_owner(
    cli: Cli, crn: FakeCrn, stranger: str, tmp_path: Path
) -> None:
    rootfs = disk_image(cli, tmp_path)
    created = cli.json("instance", "create", "--rootfs", rootfs, "--ssh-key", "ssh-ed25519 AAAA t")
    instance = created["item_hash"]
    crn.owners[instance] = cli.json("account", "show")["address"]
    entries = cli.json("instance", "logs", instance, "--crn-url", crn.url)
    assert [entry["message"] for entry in entries] == ["booted", f"serving {instance}"]
    for operation, done in (("stop", "stopped"), ("reboot", "rebooted"), ("erase", "erased")):
        printed = cli.run("instance", operation, instance, "--crn-url", crn.url).stdout
        assert f"{done} {instance}" in printed
        assert crn.operations[-1] == (operation, instance)
    failed = cli.run(
        "--account", stranger, "instance", "reboot", instance, "--crn-url", crn.url, expect=1
    )
    assert "Unauthorized sender" in failed.stderr
    assert crn.operations[-1] == ("erase", instance)
    cli.run("instance", "delete", instance)


def upload_program(cli: Cli, crn: FakeCrn, folder: Path) -> tuple[str, str]:
    """A new program from `folder`: its hash and its code's STORE hash."""
    uploaded = cli.json("program", "upload", str(folder), "--crn-url", crn.url)
    return uploaded["item_hash"], uploaded["code"]["item_hash"]


def test_update_stores_new_code_as_a_version_of_the_programs_code(
    cli: Cli, crn: FakeCrn, stranger: str, tmp_path: Path
) -> None:
    program, code = upload_program(cli, crn, code_folder(tmp_path / "v1", 1))
    updated = cli.json("program", "update", program, str(code_folder(tmp_path / "v2", 2)))
    assert updated["status"] == "processed"
    store = cli.json("message", "get", updated["item_hash"])["message"]
    assert (store["type"], store["content"]["ref"]) == ("STORE", code)
    assert store["content"]["item_type"] == "storage"
    assert (
        store["content"]["item_hash"]
        != cli.json("message", "get", code)["message"]["content"]["item_hash"]
    )
    assert cli.json("program", "show", program)["content"]["code"]["ref"] == code

    failed = cli.run(
        "--account", stranger, "program", "update", program, str(tmp_path / "v2"), expect=1
    )
    assert "only that account may update it" in failed.stderr


def test_delete_forgets_the_program_its_code_and_the_codes_updates(
    cli: Cli, crn: FakeCrn, tmp_path: Path
) -> None:
    program, code = upload_program(cli, crn, code_folder(tmp_path / "v1", 1))
    update = cli.json("program", "update", program, str(code_folder(tmp_path / "v2", 2)))
    forgotten = cli.json("program", "delete", program, "--reason", "done")
    assert forgot(forgotten["program"]) == [program]
    assert sorted(forgot(forgotten["code"])) == sorted([code, update["item_hash"]])
    for item_hash in (program, code, update["item_hash"]):
        assert "forgotten" in cli.run("message", "get", item_hash, expect=1).stderr


def forgot(published: dict[str, Any]) -> list[str]:
    """The hashes a FORGET message, as `--json` prints it, forgets."""
    assert published["status"] == "processed"
    return list(json.loads(published["message"]["item_content"])["hashes"])


def test_delete_keep_code_forgets_the_program_only(cli: Cli, crn: FakeCrn, tmp_path: Path) -> None:
    program, code = upload_program(cli, crn, code_folder(tmp_path, 3))
    forgotten = cli.json("program", "delete", program, "--keep-code")
    assert (forgot(forgotten["program"]), forgotten["code"]) == ([program], None)
    assert cli.json("message", "get", code)["status"] == "processed"
    failed = cli.run("program", "delete", code, expect=1)
    assert f"no PROGRAM message {code}" in failed.stderr
