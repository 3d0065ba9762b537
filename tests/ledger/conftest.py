"""Fixtures for the ledger tests: a real SQLite file per test and a controllable clock."""

from __future__ import annotations

import pytest
from ledger_helpers import FakeClock

from kisoms.ledger import Ledger


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path):
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path, clock):
    with Ledger(path, now=clock) as led:
        yield led
