"""The simulated broker's books and matching: pure state, no I/O. Time is passed in as (YYYYMMDD, HHMMSS).

Each order, amend and cancel is a ``SimOrder`` with its own number. An amend moves the remaining
quantity of the order it changes to its new number (the old one keeps its fills and has nothing
left); a cancel takes remaining quantity off the book (all, or part). A filled quantity cannot be
cancelled. An order fills when it is marketable against the symbol's current price: market-like types
always, a limit buy at or above the price, a limit sell at or below it, at the current price.

The book is one price wide: the current price is the best offer to a buyer and the best bid to a seller;
the best price on an order's own side is one tick away (a buyer's best bid is a tick below). So a top
priority order (04, 최우선지정가) is booked at its own side's best price and rests until the price comes
to it, while a best limit order (03, 최유리지정가) takes the other side's best price and fills at once.
Conditional limit (02) trades as a limit order (its conversion to market at the close is not simulated).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kisoms.domain.codes import InstrumentKind, OrderType, Side
from kisoms.domain.ticks import is_on_tick, price_limits, tick_size
from kisoms.sim import codes
from kisoms.sim.scenario import Scenario, SimAccount, SimSymbol

ORGNO = "91252"  # KRX_FWDG_ORD_ORGNO of the simulated branch
PRICED = {t.ord_dvsn for t in OrderType if t.has_price}
MARKET_LIKE = {t.ord_dvsn for t in OrderType if not t.has_price}
IOC = {"11", "13", "15"}
FOK = {"12", "14", "16"}
TOP_PRIORITY = OrderType.TOP_PRIORITY.ord_dvsn
TRACKED = frozenset({"remaining", "filled", "amount", "cancelled"})  # what the venue's indexes follow


class Reject(Exception):
    """A business rejection: (rt_cd, msg_cd, msg1)."""

    def __init__(self, code: tuple[str, str, str], detail: str = ""):
        self.code = code
        super().__init__(f"{code[1]} {code[2]} {detail}".strip())


@dataclass
class SimOrder:
    odno: str
    ord_dt: str
    ord_tmd: str
    account: str
    symbol: str
    side: Side
    ord_dvsn: str
    qty: int
    price: int
    kind: str = "new"  # new | amend | cancel
    orgn_odno: str = ""
    filled: int = 0
    amount: int = 0
    remaining: int = 0
    cancelled: int = 0
    exchange: str = "KRX"

    def __post_init__(self) -> None:
        if self.kind != "cancel" and not self.remaining and not self.filled:
            self.remaining = self.qty

    def __setattr__(self, name: str, value) -> None:
        """Keeps the venue's indexes (reserved cash and shares, open orders) in step with the quantities."""
        venue = self.__dict__.get("_venue")
        if venue is None or name not in TRACKED:
            object.__setattr__(self, name, value)
            return
        venue._unreserve(self)
        object.__setattr__(self, name, value)
        venue._reserve(self)


@dataclass
class Event:
    """Something a notice must say: an ``ack`` (CNTG_YN=1) or a ``fill`` (CNTG_YN=2)."""

    kind: str
    order: SimOrder
    hts_id: str
    time: str
    qty: int = 0
    price: int = 0
    refused: bool = False


@dataclass
class Venue:
    scenario: Scenario
    seed: int = 0
    orders: dict[str, SimOrder] = field(default_factory=dict)
    prices: dict[str, int] = field(default_factory=dict)
    next_no: int = 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.accounts: dict[str, SimAccount] = {a.key: a for a in self.scenario.accounts}
        self.symbols: dict[str, SimSymbol] = {s.code: s for s in self.scenario.symbols}
        for s in self.scenario.symbols:
            self.prices.setdefault(s.code, s.price or s.base_price)
        self.costs: dict[tuple[str, str], int] = {  # what each holding cost: a scenario's at its base price
            (a.key, code): self.base_cost(code, qty) for a in self.scenario.accounts for code, qty in a.holdings.items()}
        self.version = 0  # bumped by every change to an order's quantities (inquiry replies are cached on it)
        self._indexed: dict | None = None  # the ``orders`` dict the indexes below describe

    # ----------------------------------------------------------------- indexes

    def _index(self) -> None:
        """(Re)build the indexes if ``orders`` was replaced or filled from outside (a state file load)."""
        if self._indexed is self.orders and self._count == len(self.orders):
            return
        self._indexed, self._count, self.version = self.orders, 0, self.version + 1
        self._cash: dict[str, int] = {}
        self._shares: dict[tuple[str, str], int] = {}
        self._open: dict[str, dict[str, SimOrder]] = {}
        self._by_account: dict[str, list[SimOrder]] = {}
        for order in self.orders.values():
            self._attach(order)

    def _attach(self, order: SimOrder) -> None:
        object.__setattr__(order, "_venue", self)
        self._count += 1
        self._by_account.setdefault(order.account, []).append(order)
        self._reserve(order)

    def _add(self, order: SimOrder) -> None:
        """Book a new order, amend or cancel under its number."""
        self._index()
        self.orders[order.odno] = order
        self._attach(order)

    def _reserve(self, o: SimOrder) -> None:
        self.version += 1
        if o.kind == "cancel" or o.remaining <= 0:
            self._open.get(o.symbol, {}).pop(o.odno, None)
            return
        self._open.setdefault(o.symbol, {})[o.odno] = o
        if o.side is Side.BUY:
            self._cash[o.account] = self._cash.get(o.account, 0) + o.remaining * self._valuation(o)
        else:
            self._shares[(o.account, o.symbol)] = self._shares.get((o.account, o.symbol), 0) + o.remaining

    def _unreserve(self, o: SimOrder) -> None:
        if o.kind == "cancel" or o.remaining <= 0:
            return
        if o.side is Side.BUY:
            self._cash[o.account] -= o.remaining * self._valuation(o)
        else:
            self._shares[(o.account, o.symbol)] -= o.remaining

    def orders_of(self, account: str) -> list[SimOrder]:
        """An account's orders, amends and cancels, in booking order."""
        self._index()
        return self._by_account.get(account, [])

    # ----------------------------------------------------------------- lookups

    def account(self, key: str) -> SimAccount:
        if key not in self.accounts:
            raise Reject(codes.NOT_BOUND, key)
        return self.accounts[key]

    def symbol(self, code: str) -> SimSymbol:
        if code not in self.symbols:
            raise Reject(codes.UNKNOWN_SYMBOL, code)
        return self.symbols[code]

    def limits(self, code: str) -> tuple[int, int]:
        s = self.symbol(code)
        return price_limits(s.base_price, s.kind)

    def kind_of(self, code: str) -> InstrumentKind:
        return self.symbol(code).kind

    def _number(self) -> str:
        no = f"{self.next_no:010d}"
        self.next_no += 1
        return no

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Orders with quantity left on the book (of one symbol, or all), in booking order."""
        self._index()
        if symbol is not None:
            return list(self._open.get(symbol, {}).values())
        return sorted((o for by_no in self._open.values() for o in by_no.values()), key=lambda o: o.odno)

    # ------------------------------------------------------------------ checks

    def _check_price(self, code: str, ord_dvsn: str, price: int) -> None:
        if ord_dvsn not in PRICED:
            return
        if price <= 0 or not is_on_tick(price, self.kind_of(code)):
            raise Reject(codes.OFF_TICK, str(price))
        lower, upper = self.limits(code)
        if not lower <= price <= upper:
            raise Reject(codes.OUTSIDE_LIMITS, f"{price} not in {lower}..{upper}")

    def _reserved_cash(self, account: str) -> int:
        """Cash held by the account's open buy orders (kept as orders change: O(1))."""
        self._index()
        return self._cash.get(account, 0)

    def _valuation(self, o: SimOrder) -> int:
        return o.price if o.ord_dvsn in PRICED else self.limits(o.symbol)[1]

    def _reserved_shares(self, account: str, code: str) -> int:
        """Shares held by the account's open sell orders of ``code`` (kept as orders change: O(1))."""
        self._index()
        return self._shares.get((account, code), 0)

    def _check_funds(self, acct: SimAccount, code: str, side: Side, ord_dvsn: str, qty: int, price: int) -> None:
        if side is Side.BUY:
            unit = price if ord_dvsn in PRICED else self.limits(code)[1]
            if qty * unit > acct.cash - self._reserved_cash(acct.key):
                raise Reject(codes.NO_CASH)
        elif qty > acct.holdings.get(code, 0) - self._reserved_shares(acct.key, code):
            raise Reject(codes.NO_HOLDINGS)

    # ------------------------------------------------------------------ orders

    def place(self, account: str, code: str, side: Side, ord_dvsn: str, qty: int, price: int,
              when: tuple[str, str], exchange: str = "KRX") -> tuple[SimOrder, list[Event]]:
        """A new order: checked, booked, acknowledged, and filled as far as it is marketable."""
        acct = self.account(account)
        self.symbol(code)
        if qty <= 0:
            raise Reject(codes.BAD_BODY, "ORD_QTY")
        if ord_dvsn not in PRICED | MARKET_LIKE:
            raise Reject(codes.BAD_BODY, "ORD_DVSN")
        self._check_price(code, ord_dvsn, price)
        self._check_funds(acct, code, side, ord_dvsn, qty, price)
        if ord_dvsn in FOK and not self.marketable_side(code, side, ord_dvsn, price):
            raise Reject(codes.FOK_UNFILLED)
        order = SimOrder(self._number(), when[0], when[1], account, code, side, ord_dvsn, qty,
                         self._booked_price(code, side, ord_dvsn, price), exchange=exchange)
        self._add(order)
        return order, [Event("ack", order, acct.hts_id, when[1])]

    def change(self, account: str, orgn_odno: str, kind: str, qty: int, price: int, all_qty: bool,
               ord_dvsn: str, when: tuple[str, str]) -> tuple[SimOrder, list[Event]]:
        """An amend ("amend") or cancel of the remaining quantity of ``orgn_odno``; a new number."""
        acct = self.account(account)
        target = self.orders.get(orgn_odno)
        if target is None or target.account != account or target.kind == "cancel":
            raise Reject(codes.UNKNOWN_ORDER, orgn_odno)
        if target.remaining <= 0:
            raise Reject(codes.NOT_CANCELLABLE, orgn_odno)
        moved = target.remaining if all_qty or qty <= 0 else min(qty, target.remaining)
        if ord_dvsn and ord_dvsn not in PRICED | MARKET_LIKE:
            raise Reject(codes.BAD_BODY, "ORD_DVSN")
        if kind == "amend":
            self._check_price(target.symbol, ord_dvsn or target.ord_dvsn, price)
        new = SimOrder(self._number(), when[0], when[1], account, target.symbol, target.side,
                       ord_dvsn or target.ord_dvsn, moved, price if kind == "amend" else 0, kind=kind,
                       orgn_odno=orgn_odno, exchange=target.exchange)
        target.remaining -= moved
        if kind == "cancel":
            new.remaining, new.cancelled, target.cancelled = 0, moved, target.cancelled + moved
        self._add(new)
        return new, [Event("ack", new, acct.hts_id, when[1], qty=moved)]

    # ----------------------------------------------------------------- matching

    def _booked_price(self, code: str, side: Side, ord_dvsn: str, price: int) -> int:
        """The price an order rests at: its limit, its own side's best (top priority), or 0 (market-like)."""
        if ord_dvsn in PRICED:
            return price
        if ord_dvsn != TOP_PRIORITY:
            return 0
        current, lower_upper = self.prices[code], self.limits(code)
        step = tick_size(current, self.kind_of(code))
        best_own = current - step if side is Side.BUY else current + step
        return min(max(best_own, lower_upper[0]), lower_upper[1])

    def marketable_side(self, code: str, side: Side, ord_dvsn: str, price: int) -> bool:
        if ord_dvsn in MARKET_LIKE and ord_dvsn != TOP_PRIORITY:
            return True
        current = self.prices[code]
        return price >= current if side is Side.BUY else price <= current

    def marketable(self, order: SimOrder) -> bool:
        return order.remaining > 0 and self.marketable_side(order.symbol, order.side, order.ord_dvsn, order.price)

    def fill(self, order: SimOrder, qty: int, price: int, when: tuple[str, str]) -> list[Event]:
        """Execute ``qty`` of ``order`` at ``price`` (cash and holdings move)."""
        qty = min(qty, order.remaining)
        if qty <= 0:
            return []
        order.remaining -= qty
        order.filled += qty
        order.amount += qty * price
        acct = self.accounts[order.account]
        sign = 1 if order.side is Side.BUY else -1
        acct.cash -= sign * qty * price
        self._move_cost(acct.key, order.symbol, acct.holdings.get(order.symbol, 0), sign * qty, price)
        acct.holdings[order.symbol] = acct.holdings.get(order.symbol, 0) + sign * qty
        return [Event("fill", order, acct.hts_id, when[1], qty=qty, price=price)]

    def base_cost(self, code: str, qty: int) -> int:
        """What ``qty`` shares of ``code`` held from the start cost: its base price each."""
        return qty * (self.symbols[code].base_price if code in self.symbols else 0)

    def _move_cost(self, account: str, code: str, held: int, change: int, price: int) -> None:
        """A holding's cost at average price: a buy adds what it paid, a sell takes its share of the cost."""
        key = (account, code)
        cost = self.costs.get(key, 0)
        if change > 0:
            self.costs[key] = cost + change * price
        else:
            self.costs[key] = cost - (cost * -change // held if held > 0 else 0)

    def slices(self, order: SimOrder) -> list[int]:
        """How a marketable remaining quantity is cut into fills."""
        n = max(1, min(self.scenario.fill_slices, order.remaining))
        base, extra = divmod(order.remaining, n)
        return [base + (1 if i < extra else 0) for i in range(n)]

    def expire_unfillable(self, order: SimOrder, when: tuple[str, str]) -> list[Event]:
        """IOC: what did not fill at once is cancelled."""
        if order.ord_dvsn in IOC and order.remaining > 0:
            order.cancelled += order.remaining
            order.remaining = 0
            return [Event("ack", order, self.accounts[order.account].hts_id, when[1], qty=order.cancelled)]
        return []

    def walk(self, code: str) -> int:
        """One seeded random-walk step of a symbol's price (by ticks, within the limits)."""
        from kisoms.domain.ticks import tick_size

        price = self.prices[code]
        step = tick_size(price, self.kind_of(code)) * self.rng.choice((-1, 0, 1))
        lower, upper = self.limits(code)
        self.prices[code] = min(upper, max(lower, price + step))
        return self.prices[code]
