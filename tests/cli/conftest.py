"""CLI tests: the real simulator over loopback (as the engine tests run it) and its config helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))  # engine_helpers: settings and config files


@pytest.fixture
def sim():
    from kisoms.sim.testing import running_simulator

    with running_simulator() as handle:
        yield handle
