"""Engine tests run against the real simulator over loopback, with a real SQLite ledger."""

from __future__ import annotations

import pytest

from engine_helpers import make_settings
from kisoms.engine.runtime import open_runtime


@pytest.fixture
def sim():
    from kisoms.sim.testing import running_simulator

    with running_simulator() as handle:
        yield handle


@pytest.fixture
def settings(sim, tmp_path):
    return make_settings(sim, tmp_path)


@pytest.fixture
def rt(settings):
    with open_runtime(settings) as runtime:
        yield runtime

