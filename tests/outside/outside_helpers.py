"""Outside KIS clients pointed at the simulator as a user would: only their host constants are changed."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import pytest

from kisoms.sim.testing import SimHandle, running_simulator

FAST = 10_000  # the broker's pace is not under test (the clients throttle themselves anyway)


@contextmanager
def simulator(**overrides) -> Iterator[SimHandle]:
    """The simulator with its DEFAULT scenario (separate real and paper hosts and keys)."""
    overrides.setdefault("rate_limit_per_sec", FAST)
    with running_simulator(**overrides) as handle:
        yield handle


def account_of(sim: SimHandle) -> str:
    acct = sim.scenario.accounts[0]
    return f"{acct.cano}-{acct.acnt_prdt_cd}"


def point_python_kis_at(sim: SimHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """python-kis keeps KIS's hosts in module constants (pykis.__env__, imported by name where used)."""
    import pykis.client.websocket
    import pykis.kis

    monkeypatch.setattr(pykis.kis, "REAL_DOMAIN", sim.rest_url)
    monkeypatch.setattr(pykis.kis, "VIRTUAL_DOMAIN", sim.paper_rest_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_REAL_DOMAIN", sim.ws_url)
    monkeypatch.setattr(pykis.client.websocket, "WEBSOCKET_VIRTUAL_DOMAIN", sim.paper_ws_url)


class Waiter:
    """Collects events from a callback thread; ``wait`` returns once one matches (no fixed sleeps)."""

    def __init__(self) -> None:
        self.items: list = []
        self.changed = threading.Condition()

    def add(self, item) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait(self, match, timeout: float = 10.0):
        with self.changed:
            found = self.changed.wait_for(lambda: next((i for i in self.items if match(i)), None), timeout)
        assert found is not None, f"nothing matched within {timeout}s; got {self.items!r}"
        return found


def until_subscribed(sim: SimHandle, timeout: float = 10.0) -> None:
    """python-kis subscribes on its own WebSocket thread: trade only once the venue has the execution-notice
    subscription (H0STCNI0 real / H0STCNI9 paper), or the acceptance notice is sent to nobody."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if any(s.tr_id.startswith("H0STCNI") for s in list(sim.simulator.subscribers)):
            return
        done.wait(0.02)  # the venue runs on another thread and offers no hook to await
    raise AssertionError(f"python-kis did not subscribe to execution notices within {timeout}s")
