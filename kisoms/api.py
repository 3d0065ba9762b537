"""The Python API for strategies: ``oms = kisoms.connect()``, then submit, modify, cancel and look.

One ``OMS`` holds one ledger and one broker client (the same as one CLI command), resolved from the same
configuration as the CLI (``--config`` → ``config=``, ``--ledger`` → ``ledger=``, then env vars, the file,
defaults). Failures raise the one error tree of :mod:`kisoms.errors` (the CLI maps the same classes to its
exit codes); an order the broker refuses is not an exception but a ``Trade`` whose status is REJECTED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pydantic import ValidationError as PydanticValidationError

from kisoms.config import Settings, load_settings
from kisoms.domain.intent import ApprovedOrderIntent, parse_intent
from kisoms.domain.order import Fill, Order
from kisoms.domain.states import NON_TERMINAL, OrderStatus
from kisoms.engine.clock import Clock
from kisoms.engine.runtime import Runtime, open_runtime
from kisoms.errors import UsageError
from kisoms.ledger.records import HistoryRow, LedgerEvent

IntentLike = ApprovedOrderIntent | dict | str


@dataclass(frozen=True)
class Trade:
    """One order with everything that happened to it, as the ledger knew it when read.

    ``order`` is the order record; ``fills`` its executions; ``history`` its status timeline. Read again
    with ``OMS.trade(trade.id)`` (or ``oms.refresh(trade)``) to see later changes.
    """

    order: Order
    fills: tuple[Fill, ...]
    history: tuple[HistoryRow, ...]

    @property
    def id(self) -> int:
        return self.order.id

    @property
    def status(self) -> OrderStatus:
        return self.order.status

    @property
    def filled(self) -> int:
        return self.order.filled_qty

    @property
    def remaining(self) -> int:
        """Shares neither filled nor cancelled (still working, or not yet sent)."""
        return self.order.remaining_qty

    @property
    def avg_fill_price(self) -> float | None:
        return self.order.avg_fill_price

    @property
    def is_done(self) -> bool:
        """True once the order is in a final state (FILLED, CANCELLED, REJECTED, ERROR)."""
        return self.order.status not in NON_TERMINAL

    def __repr__(self) -> str:
        o = self.order
        return (f"Trade(id={o.id}, {o.side.value} {o.qty} {o.symbol} @ {o.price or o.order_type.value}, "
                f"status={o.status.value}, filled={o.filled_qty}, remaining={self.remaining})")


def as_intent(intent: IntentLike) -> ApprovedOrderIntent:
    """An intent from a model, a dict or a JSON text; a bad one is a ``UsageError`` naming each field."""
    if isinstance(intent, ApprovedOrderIntent):
        return intent
    try:
        return parse_intent(json.loads(intent) if isinstance(intent, str) else intent)
    except json.JSONDecodeError as exc:
        raise UsageError(f"intent: not valid JSON: {exc}") from None
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'intent'}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"intent: {problems}") from None


def _order_id(target: int | Trade) -> int:
    return target.id if isinstance(target, Trade) else int(target)


class OMS:
    """A connection to the ledger and the broker. Use as a context manager, or call ``close()``."""

    def __init__(self, rt: Runtime, *, deliver_with: tuple[str | None, str | None, str | None] | None = None):
        self._rt = rt
        self._deliver_with = deliver_with  # (--config, --ledger, --env) a detached alert deliverer gets

    # ------------------------------------------------------------------ lifecycle

    @property
    def settings(self) -> Settings:
        return self._rt.settings

    @property
    def runtime(self) -> Runtime:
        """The engine runtime underneath (ledger, client, clock), for what the API does not cover."""
        return self._rt

    def close(self) -> None:
        self._rt.close()

    def __enter__(self) -> "OMS":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------- orders

    def submit(self, intent: IntentLike) -> Trade:
        """Create the order for an approved intent and send it exactly once. The same intent again returns
        the same order and sends nothing. Raises ValidationError (not sent), Halted, OutcomeUnknown,
        BrokerError; a broker refusal comes back as a REJECTED trade."""
        from kisoms.engine.submit import submit as submit_intent

        try:
            return self.trade(submit_intent(self._rt, as_intent(intent)).order.id)
        finally:
            self._alerts_due()

    def modify(self, target: int | Trade, *, price: int | None = None, qty: int | None = None) -> Trade:
        """Amend the remaining quantity of an open order to ``price``."""
        from kisoms.engine.amend import modify as modify_order

        try:
            return self.trade(modify_order(self._rt, _order_id(target), price=price, qty=qty).id)
        finally:
            self._alerts_due()

    def cancel(self, target: int | Trade, *, qty: int | None = None) -> Trade:
        """Cancel the remaining quantity of an open order (or ``qty`` of it)."""
        from kisoms.engine.amend import cancel as cancel_order

        try:
            return self.trade(cancel_order(self._rt, _order_id(target), qty=qty).id)
        finally:
            self._alerts_due()

    # ---------------------------------------------------------------------- views

    def trade(self, order_id: int) -> Trade:
        """The order with this id, its fills and history (OrderNotFound if there is none)."""
        from kisoms.engine.queries import trade

        found = trade(self._rt.ledger, order_id)  # the same view `kisoms status ID` shows
        return Trade(found.order, tuple(found.fills), tuple(found.history))

    def refresh(self, trade: Trade) -> Trade:
        """The same trade read again."""
        return self.trade(trade.id)

    def trades(self, open: bool = True, *, symbol: str | None = None, limit: int = 1000) -> list[Trade]:
        """Trades newest first: only those not yet final (``open=True``), or all of them."""
        from kisoms.engine.queries import orders

        return [self.trade(o.id) for o in orders(self._rt.ledger, open_only=open, symbol=symbol, limit=limit)]

    def positions(self, account: str | None = None):
        """What the account holds, from the broker's inquire-balance (every page): a ``Balance``."""
        from kisoms.engine.books import balance

        return balance(self._rt, self._account(account))

    def events(self, since: int = 0, *, follow: bool = False, poll: float = 0.5,
               stop: Callable[[], bool] | None = None) -> Iterator[LedgerEvent]:
        """Ledger events after id ``since``, oldest first. With ``follow``, keeps waiting for new ones
        (polling the ledger every ``poll`` seconds) until ``stop()`` returns True or the loop breaks."""
        last = since
        while True:
            batch = self._rt.ledger.events_since(last, 1000)
            yield from batch
            last = batch[-1].id if batch else last
            if batch and len(batch) == 1000:
                continue
            if not follow or (stop is not None and stop()):
                return
            self._rt.clock.sleep(poll)

    # --------------------------------------------------------------- kill switch

    def halt(self, reason: str = "halted from the API", *, account: str | None = None) -> None:
        """Turn a kill switch on (``account``'s, or the global one): nothing new is sent until resumed."""
        from kisoms.engine.control import set_halt

        set_halt(self._rt.ledger, reason, account)
        self._alerts_due()

    def resume(self, *, account: str | None = None, everything: bool = False, force: bool = False) -> list:
        """Turn a kill switch off; returns the switches still on (``HaltState`` records)."""
        from kisoms.engine.control import resume

        return resume(self._rt.ledger, force=force, account=account, everything=everything)

    def halts(self) -> list:
        """The kill switches that are on."""
        return self._rt.ledger.halts()

    def _alerts_due(self) -> None:
        """With [alerts] configured, hand what this call may have raised to a detached deliverer (as the CLI
        does): the caller never waits for a receiver. Not after ``connect(settings=...)``, whose settings no
        child process could read again: run `kisoms alerts deliver` (or any kisoms command) for those."""
        settings = self._rt.settings
        if not settings.alerts.targets or self._deliver_with is None:
            return
        from kisoms.engine.alerts import spawn_deliverer

        try:
            spawn_deliverer(*self._deliver_with, settings.state_path)
        except OSError:
            pass  # the next kisoms process delivers it

    def _account(self, account: str | None) -> str:
        chosen = account or self._rt.settings.default_account
        if not chosen:
            raise UsageError("no account: pass account= or set default_account in the config")
        return chosen


def connect(config: str | Path | None = None, ledger: str | Path | None = None, *, env: str | None = None,
            settings: Settings | None = None, clock: Clock | None = None, recover: bool = True) -> OMS:
    """Open the OMS with the CLI's configuration resolution (``config`` is ``--config``, ``ledger`` is
    ``--ledger``, ``env`` is ``--env``; then KISOMS_CONFIG / KISOMS_LEDGER, the file, defaults). With ``recover`` (the
    default), sends a crash may have left open are resolved first, as every CLI command does."""
    flags = (str(config) if config else None, str(ledger) if ledger else None, env)
    from_file = settings is None
    settings = settings or load_settings(config, env=env)
    rt = open_runtime(settings, flags[1], clock=clock)  # its clock: clock_for(env) unless given
    if recover:
        from kisoms.engine.recovery import recover as run_recovery

        try:
            run_recovery(rt, source="startup")
        except BaseException:
            rt.close()
            raise
    return OMS(rt, deliver_with=flags if from_file else None)


__all__ = ["OMS", "Trade", "connect", "as_intent"]
