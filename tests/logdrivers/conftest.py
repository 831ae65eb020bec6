"""Fixtures for the log driver tests: a container directory and its LogInfo."""

from __future__ import annotations

from pathlib import Path

import pytest
from ldhelpers import CID, make_info
from pydock.logdrivers.base import LogInfo


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    d = tmp_path / CID
    d.mkdir()
    return d


@pytest.fixture
def info(cdir: Path) -> LogInfo:
    return make_info(cdir)
