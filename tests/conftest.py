"""Shared fixtures: a click runner and a per-test cache folder, so no test touches the user's home."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SFTVSRL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sftvsrl-cache"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
