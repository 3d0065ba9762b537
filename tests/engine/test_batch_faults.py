"""A batch of 200 intents under seeded random faults: every intent maps to at most one broker order."""

from __future__ import annotations

import random

import pytest

from engine_helpers import broker_orders, inject, intent, make_settings
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import KisomsError
from kisoms.sim.testing import running_simulator

FAULTS = ["drop_response", "error_after_accept", "reset_after_accept", "error_before_accept",
          "reset_before_accept", "rate_limit", "token_expired", "delay"]


@pytest.fixture
def sim():
    with running_simulator(rate_limit_per_sec=400) as handle:  # the broker's pace is not under test here
        yield handle


def test_two_hundred_intents_under_random_faults(sim, tmp_path):
    rng = random.Random(20261125)
    settings = make_settings(sim, tmp_path, rate_per_sec=400, ambiguity={"policy": "resend", "lookup_window": 0.4,
                                                       "lookup_interval": 0.1},
                             retry={"read_timeout": 0.4, "deadline": 3.0})
    with open_runtime(settings) as rt:
        for n in range(200):
            if rng.random() < 0.15:
                inject(sim, rng.choice(FAULTS), seconds=0.6)
            try:
                submit(rt, intent(n, qty=1, price=rng.choice([69000, 69500, 70000])))
            except KisomsError:
                pass  # a documented refusal; what matters is what reached the broker
            sim.admin.clear_faults()
        # the same intents again: nothing new may reach the broker
        before = len(broker_orders(sim))
        for n in range(0, 200, 7):
            try:
                submit(rt, intent(n, qty=1, price=69000))
            except KisomsError:
                pass
        assert len(broker_orders(sim)) == before
        report = reconcile(rt)
        assert report.external == [], "a broker order that no intent owns: a duplicate"
        numbers = [o.broker_order_no for o in rt.ledger.list_orders() if o.broker_order_no]
        assert len(numbers) == len(set(numbers))
        originals = {r["odno"] for r in broker_orders(sim)}
        assert set(numbers) == originals
