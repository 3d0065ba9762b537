"""What the REST handlers, the admin routes and the state file need of the simulator process.

``server.Simulator`` is the one implementation. ``rest``, ``admin`` and ``state`` type against this
protocol, so none of them imports the server that imports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Protocol

from kisoms.domain.codes import Side
from kisoms.sim.faults import FaultBook
from kisoms.sim.scenario import Scenario
from kisoms.sim.venue import Event, SimOrder, Venue


class SimHost(Protocol):
    """The simulator as its handlers see it: the venue and scenario, sessions, and the venue actions."""

    scenario: Scenario
    venue: Venue
    faults: FaultBook
    tokens: dict[str, dict]
    tokens_by_key: dict[str, dict]
    approval_keys: set[str]
    notices_sent: list[dict]

    def now(self) -> datetime: ...

    def when(self) -> tuple[str, str]: ...

    async def run_business(self, action: Callable[[], SimOrder]) -> SimOrder: ...

    def place(self, account: str, code: str, side: Side, ord_dvsn: str, qty: int, price: int,
              exchange: str = "KRX") -> SimOrder: ...

    def change(self, account: str, orgn_odno: str, kind: str, qty: int, price: int, all_qty: bool,
               ord_dvsn: str) -> SimOrder: ...

    def set_price(self, code: str, price: int) -> None: ...

    def force_fill(self, odno: str, qty: int, price: int | None) -> list[Event]: ...

    def books(self, account: str, start: str, end: str, pdno: str, odno: str, side: str,
              ccld: str) -> list[dict]: ...

    def booked(self, account: str, start: str, end: str, pdno: str, odno: str, side: str,
               ccld: str) -> list[SimOrder]: ...

    def amendable(self, account: str) -> list[dict]: ...

    async def disconnect_all(self) -> int: ...
