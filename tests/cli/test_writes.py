"""Posts, aggregates and messages through the CLI, against a real node."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys

import pytest

from tests.cli.conftest import Cli

pytestmark = pytest.mark.slow


def test_post_send_get_amend_list(cli: Cli) -> None:
    sent = cli.json("post", "send", "--type", "note", "--content", '{"body": "hello"}')
    assert sent["status"] == "processed"
    original = sent["item_hash"]
    assert cli.json("post", "get", original)["content"] == {"body": "hello"}
    cli.run("post", "amend", original, input='{"body": "hello again"}')
    post = cli.json("post", "get", original)
    assert post["content"] == {"body": "hello again"}
    assert post["original_item_hash"] == original
    me = cli.json("account", "show")["address"]
    listed = cli.json("post", "list", "--address", me, "--type", "note")
    assert [post["original_item_hash"] for post in listed["posts"]] == [original]
    table = cli.run("post", "list", "--address", me).stdout
    assert original in table


def test_post_content_must_be_json(cli: Cli) -> None:
    failed = cli.run("post", "send", "--content", "{not json", expect=2)
    assert "--content is not valid JSON" in failed.stderr


def test_aggregate_set_get_list_forget(cli: Cli) -> None:
    cli.run("aggregate", "set", "profile", "--content", '{"name": "alice", "age": 3}')
    cli.run("aggregate", "set", "profile", "--content", '{"age": 4}')
    assert cli.json("aggregate", "get", "profile") == {"name": "alice", "age": 4}
    assert cli.json("aggregate", "list")["profile"] == {"name": "alice", "age": 4}
    assert "alice" in cli.run("aggregate", "get", "profile").stdout
    cli.run("aggregate", "forget", "profile")
    failed = cli.run("aggregate", "get", "profile", expect=1)
    assert "check the hash or address" in failed.stderr


def test_aggregate_content_must_be_an_object(cli: Cli) -> None:
    failed = cli.run("aggregate", "set", "profile", "--content", "[1, 2]", expect=2)
    assert "must be a JSON object" in failed.stderr


def test_message_get_find_forget(cli: Cli) -> None:
    sent = cli.json("post", "send", "--type", "findme", "--content", '{"n": 1}')
    item_hash = sent["item_hash"]
    found = cli.json("message", "get", item_hash)
    assert found["status"] == "processed"
    assert found["message"]["content"]["content"] == {"n": 1}
    page = cli.json("message", "find", "--type", "post", "--content-type", "findme")
    assert [message["item_hash"] for message in page["messages"]] == [item_hash]
    assert item_hash in cli.run("message", "find", "--hash", item_hash).stdout
    cli.run("message", "forget", item_hash, "--reason", "test")
    failed = cli.run("message", "get", item_hash, expect=1)
    assert "forgotten" in failed.stderr


def test_message_watch_prints_new_messages_and_stops_on_ctrl_c(cli: Cli) -> None:
    command = [
        sys.executable, "-m", "alephnet", "--api-url", cli.api_url,
        "message", "watch", "--content-type", "watched", "--json",
    ]  # fmt: skip
    environment = {**os.environ, "ALEPHNET_HOME": str(cli.home)}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as watcher:
        try:
            sent = _send_until_seen(cli, watcher)
            assert sent["content"]["type"] == "watched"
            watcher.send_signal(signal.SIGINT)
            assert watcher.wait(timeout=10) == 0
        finally:
            watcher.kill()


def _send_until_seen(cli: Cli, watcher: subprocess.Popen[str]) -> dict[str, object]:
    """The watch only shows what comes after it connects: send until a message shows up."""
    assert watcher.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(watcher.stdout, selectors.EVENT_READ)
    for _ in range(20):
        cli.run("post", "send", "--type", "watched", "--content", "{}")
        if selector.select(timeout=1.0):
            line = watcher.stdout.readline()
            message: dict[str, object] = json.loads(line)
            return message
    raise AssertionError("the watch printed nothing")
