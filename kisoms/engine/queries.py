"""Read-only views of the ledger for the CLI: no broker, no simulator."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from kisoms.domain.order import Order
from kisoms.domain.states import NON_TERMINAL
from kisoms.engine.envledger import app_key_if_known, open_env_ledger
from kisoms.ledger import Ledger

if TYPE_CHECKING:  # (pydantic stays unloaded for a read-only view; kisoms.configfile.QuickSettings also fits)
    from kisoms.config import Settings


@contextmanager
def open_ledger(settings: Settings, flag: str | None = None) -> Iterator[Ledger]:
    """The ledger alone (status, history, audit): opening it never contacts the broker."""
    ledger = open_env_ledger(settings, flag, app_key=app_key_if_known(settings))
    try:
        yield ledger
    finally:
        ledger.close()


@dataclass
class Trade:
    """An order with everything that happened to it: history, fills and broker numbers."""

    order: Order
    history: list
    fills: list
    numbers: list

    def as_dict(self, order_dict: Callable[[Order], dict]) -> dict:
        return {
            "order": order_dict(self.order),
            "history": [_plain(h) for h in self.history],
            "fills": [_plain(f) for f in self.fills],
            "broker_numbers": [_plain(n) for n in self.numbers],
        }


def _plain(obj) -> dict:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) else dict(obj)


def trade(ledger: Ledger, order_id: int) -> Trade:
    """Everything the ledger knows about one order."""
    return Trade(ledger.get(order_id), ledger.history(order_id), ledger.fills(order_id),
                 ledger.broker_numbers(order_id))


def orders(ledger: Ledger, *, open_only: bool = False, symbol: str | None = None,
           limit: int | None = None) -> list[Order]:
    """Orders newest ``limit`` of them: only those not yet final with ``open_only``; ``symbol`` in any case."""
    statuses = list(NON_TERMINAL) if open_only else None
    return ledger.list_orders(statuses=statuses, symbol=symbol.upper() if symbol else None, limit=limit)
