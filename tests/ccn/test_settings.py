"""Where a node's settings come from: defaults < TOML file < environment < command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alephnet.ccn.settings import CcnSettings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "ccn.toml"
    config.write_text('port = 5000\nlog_level = "DEBUG"\nsync_interval = 2.0\n')
    monkeypatch.setenv("ALEPHNET_CCN_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("ALEPHNET_CCN_SYNC_INTERVAL", "3.0")
    settings = CcnSettings.load(config, sync_interval=4.0, host=None)
    assert settings.port == 5000
    assert settings.log_level == "WARNING"
    assert settings.sync_interval == 4.0
    assert settings.host == "127.0.0.1"


def test_without_a_file_the_environment_still_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALEPHNET_CCN_PEERS", '["http://127.0.0.1:4025"]')
    assert CcnSettings.load().peers == ["http://127.0.0.1:4025"]


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "ccn.toml"
    config.write_text("prot = 5000\n")
    with pytest.raises(ValidationError, match="prot"):
        CcnSettings.load(config)
