"""Ops tests (API, account views, guards) run against the real simulator over loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))


@pytest.fixture
def sim():
    from kisoms.sim.testing import running_simulator

    with running_simulator() as handle:
        yield handle
