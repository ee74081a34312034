"""CRN settings: defaults < TOML < environment < overrides; unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alephnet.crn.settings import CrnSettings


def test_precedence_and_unknown_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "crn.toml"
    config.write_text('port = 5000\nexecutor = "microvm"\nreuse_timeout = 5\ndomain = "a.test"\n')
    monkeypatch.setenv("ALEPHNET_CRN_REUSE_TIMEOUT", "7")
    settings = CrnSettings.load(config, domain="b.test", port=None)
    assert settings.port == 5000
    assert settings.executor == "microvm"
    assert settings.reuse_timeout == 7.0
    assert settings.domain == "b.test"
    assert CrnSettings.load().port == 4020

    config.write_text("reuse_timout = 5\n")
    with pytest.raises(ValidationError, match="reuse_timout"):
        CrnSettings.load(config)
    with pytest.raises(ValidationError, match="executor"):
        CrnSettings.load(executor="docker")
