"""The shifted clock: kisoms's sim env and the simulator agree on the date at every anchor, paper and real
never shift, and a bad shift is a clear configuration error."""

from __future__ import annotations

from datetime import timedelta

import pytest

import clocks
from kisoms.engine.clock import KST, clock_for, kst_ymd
from kisoms.errors import ConfigError
from kisoms.sim.server import Simulator

pytestmark = pytest.mark.dates


def _kst_dates_around(read) -> tuple[set[str], str]:
    """The KST dates just before and after ``read()`` (a crossing of midnight between them is allowed)."""
    before = clocks.now().astimezone(KST).strftime("%Y%m%d")
    value = read()
    after = clocks.now().astimezone(KST).strftime("%Y%m%d")
    return {before, after}, value


def test_the_sim_env_clock_reads_the_anchor_date(kst_anchor):
    dates, value = _kst_dates_around(lambda: kst_ymd(clock_for("sim").now()))
    assert value in dates
    assert kst_anchor.strftime("%Y%m%d") in dates | {(kst_anchor + timedelta(seconds=5)).strftime("%Y%m%d")}


def test_the_simulator_and_the_sim_env_agree_on_the_date(kst_anchor):
    dates, value = _kst_dates_around(lambda: Simulator().when()[0])
    assert value in dates


@pytest.mark.parametrize("env", ["paper", "real"])
def test_paper_and_real_always_run_on_the_wall_clock(env, kst_anchor):
    assert clock_for(env).shift == timedelta(0)


def test_a_shift_that_is_not_a_number_is_a_config_error(monkeypatch):
    monkeypatch.setenv(clocks.SHIFT_VAR, "tomorrow")
    with pytest.raises(ConfigError, match="KISOMS_SIM_CLOCK_SHIFT"):
        clock_for("sim")
