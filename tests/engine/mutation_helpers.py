"""Helpers for the exactly-once tests: a clock that never really waits, a second desk on the same account
(orders kisoms does not know, as if placed in HTS), and the order's history as event names."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

import clocks

from engine_helpers import make_settings
from kisoms.engine.clock import Clock
from kisoms.engine.runtime import open_runtime


class StepClock(Clock):
    """Wall time runs on from the tests' fixed date (tests/clocks.py: the simulator books by the same shifted
    clock), but sleeping only moves this clock on: no real waiting, and ``slept`` says how long the engine
    meant to wait."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []
        self.mono = 1000.0

    def now(self) -> datetime:
        return clocks.now() + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += max(0.0, seconds)
        self.mono += max(0.0, seconds)


@contextmanager
def step_runtime(sim, tmp_path, clock: StepClock, **overrides):
    """kisoms's runtime on ``clock`` against ``sim`` (settings from ``make_settings`` with ``overrides``)."""
    with open_runtime(make_settings(sim, tmp_path, **overrides), clock=clock) as rt:
        yield rt


@contextmanager
def other_desk(sim, tmp_path, **overrides):
    """A second runtime with its own ledger: its orders are external to ours. It shares our token cache
    (KIS issues one token a minute per app key)."""
    (tmp_path / "hts").mkdir(exist_ok=True)
    settings = make_settings(sim, tmp_path / "hts", state_dir=str(tmp_path / "state"), **overrides)
    with open_runtime(settings) as rt:
        yield rt


def events(rt, order_id: int) -> list[str]:
    """The order's history, as event names in order."""
    return [h.event for h in rt.ledger.history(order_id)]


def request_rows(rt, order_id: int) -> list[tuple[str, str, str | None]]:
    return [(n.kind, n.state, n.broker_order_no) for n in rt.ledger.broker_numbers(order_id)]
