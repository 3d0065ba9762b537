"""Reconcile (EMS-04): force the ledger to the broker's books.

1. Resolve requests left open by a crash or an ambiguous send (``recovery.recover``).
2. For each account with orders to check, fetch inquire-daily-ccld (all pages) over the dates involved.
3. For each of our orders, gather its rows: every broker number we mapped, plus amend/cancel rows whose
   ORGN_ODNO chains back to one of them (an unmapped one is adopted or mapped as a change made elsewhere).
4. Derive the broker's view (quantity, filled, amount, cancelled; an order from an earlier day with
   quantity left has expired) and apply it through the documented correction rule; fills missing from
   the ledger are inserted as inferred fills with source ``reconcile``. Quantities going backwards are a
   discrepancy: nothing is changed, the kill switch goes on and the report says why.
5. Rows that chain to none of our numbers are orders kisoms did not place: recorded as external.

A second run right after the first changes nothing.

Cost: per account, one read of the books and a few ledger queries for all its orders (their fresh rows, broker
numbers and open requests), matching by (date, number) index. The orders and their requests are read in steps
between pages of the books, while the rate limit spaces the next request; the pass uses those reads only if
nothing was written to the ledger meanwhile (by anyone), else it reads the requests, and the orders whose
version moved, again after the last page. Every decision waits for the last page: an amend or cancel row may
be on any later page. An order the rows so far show in sync (nothing to write or report) is remembered as such
between pages; after the last page that judgement is reused only if no row under its numbers (or chained to
them) came on a later page and its snapshot and the day are the same, so the pass decides exactly what a pass
judging every order after the last page decides. An order the rows so far show needing one correction and
nothing else is judged so alike, and its correction is built between pages (``Ledger.prepare_correction``: the
new column values, the event's and the audit row's texts, serialised and redacted; no I/O, no lock), until the
next page's request is about due (when the client's limiter says its next grant is due:
``RateLimiter.next_due``), the rest after the last page. After the last page a built correction is written
only if its judgement stands (as above); the built ones are written together, in the orders' order
(``Ledger.write_corrections``: one ``executemany`` per table, the audit chain hashed in order at write time),
up to one whose order moved meanwhile, which goes the usual way. Every other order is corrected one by one in
its own savepoint (a failing order leaves no trace), in batched transactions of ``BATCH`` orders (one fsync
per batch; built corrections weigh a fifth of one). Orders whose snapshot turned out stale get their second
look (a fresh inquiry) after the batch has committed, so no write lock is held across a broker call. The
cyclic garbage collector is off for the pass (``collector.collector_paused``): its passes over the pass's many objects
cost more than the pass's own work.
"""

from __future__ import annotations

from collections import defaultdict, deque
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter
from typing import TYPE_CHECKING, Callable, Iterator

from kisoms.domain.order import Fill, Order
from kisoms.domain.states import (NON_TERMINAL, PENDING, TERMINAL, BrokerView, OrderStatus, broker_status,
                                  correction_problem)
from kisoms.engine.collector import collector_paused
from kisoms.engine.clock import kst_date, kst_ymd
from kisoms.engine.book_matching import is_original
from kisoms.engine.recovery import lookup_grace, recover
from kisoms.engine.runtime import Runtime
from kisoms.errors import CorrectionRefused, LedgerError, StaleOrder
from kisoms.ledger.db import write_marks
from kisoms.ledger.orders import OrderKey, order_keys, orders_by_id, versions_by_id
from kisoms.ledger.records import OPEN_REQUEST_STATES
from kisoms.ledger.requests import request_keys_by_order

if TYPE_CHECKING:
    import sqlite3

    from kisoms.ledger.corrections import PreparedCorrection

SOURCE = "reconcile"
BATCH = 200  # orders corrected the usual way per write transaction (bounds how long others wait for the lock)
BUILT_PER_USUAL = 5  # corrections built ahead (or orders in sync) weighing as one of those: written together,
# 1,000 take about as long as 200 one by one (and one fsync and fewer WAL pages for 1,000, not five of each)
STEP = 150  # orders read per page of the books (~8 ms), while the rate limit spaces the next request


@dataclass
class Change:
    order_id: int
    before: str
    after: str
    detail: str


@dataclass
class ReconcileReport:
    """What reconcile found and did (or, with dry_run, would do)."""

    dry_run: bool = False
    checked: int = 0
    changes: list[Change] = field(default_factory=list)
    external: list[dict] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)  # being sent or resolved by another process now

    @property
    def in_sync(self) -> bool:
        return not (self.changes or self.unresolved or self.recovered or self.external)

    def as_dict(self) -> dict:
        """``dataclasses.asdict`` of the report (plain copies: its changes as dicts) and ``in_sync``, built
        directly (asdict's generic deep copy is ~0.1 s for 10,000 changes)."""
        return {"dry_run": self.dry_run, "checked": self.checked,
                "changes": [{"order_id": c.order_id, "before": c.before, "after": c.after, "detail": c.detail}
                            for c in self.changes],
                "external": [dict(e) for e in self.external], "unresolved": list(self.unresolved),
                "recovered": list(self.recovered), "in_flight": list(self.in_flight), "in_sync": self.in_sync}


@dataclass
class BrokerOrder:
    """One of our orders as the broker's rows describe it."""

    view: BrokerView
    amount: int
    rows: list
    live_fields: dict = field(default_factory=dict)  # where the order lives now: number, branch, price

    @property
    def live_number(self) -> str | None:
        return self.live_fields.get("broker_order_no")


def _ymd_date(ymd: str) -> date:
    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))


def _by_origin(rows: list) -> dict[tuple[str, str], list]:
    """Amend/cancel rows grouped by (date, the number they changed). KIS numbers restart every day, and
    an amend or cancel is always booked on its original's day."""
    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        if not is_original(row):
            grouped[(row.ord_dt, row.orgn_odno)].append(row)
    return grouped


def _by_number(rows: list) -> dict[tuple[str, str], list[tuple[int, object]]]:
    """Every row under its (date, number), with its position in the books (to keep their order)."""
    indexed: dict[tuple[str, str], list[tuple[int, object]]] = defaultdict(list)
    for at, row in enumerate(rows):
        indexed[(row.ord_dt, row.odno)].append((at, row))
    return indexed


def chain(rows_by_origin: dict, numbers: set[str], day: str) -> list:
    """Rows of ``day`` reachable from ``numbers`` through ORGN_ODNO links (amends of amends included)."""
    found, frontier = [], list(numbers)
    while frontier:
        for row in rows_by_origin.get((day, frontier.pop()), []):
            if row.odno not in numbers:
                numbers.add(row.odno)
                found.append(row)
                frontier.append(row.odno)
    return found


def broker_order(order: Order, rows: list, today: str) -> BrokerOrder | None:
    """The broker's view of ``order`` from its rows (original + amends + cancels)."""
    originals = [r for r in rows if is_original(r)]
    if not originals:
        return None
    original = originals[0]
    working = [r for r in rows if not r.is_cancel]
    filled = sum(r.tot_ccld_qty for r in working)
    amount = sum(r.tot_ccld_amt for r in working)
    remaining = sum(r.rmn_qty for r in working)
    if original.ord_dt < today:
        remaining = 0  # a day order with quantity left when its day ended has expired
    qty = original.ord_qty
    cancelled = max(0, qty - filled - remaining)
    rejected = original.rjct_qty >= qty and filled == 0
    standing = [r for r in working if r.rjct_qty < r.ord_qty] or working  # a refused amend never lives
    live = max(standing, key=lambda r: (r.ord_tmd, r.odno)) if standing else None
    view = BrokerView(qty, filled, 0 if rejected else cancelled, rejected)
    return BrokerOrder(view, amount, rows, _live_fields(order, live))


def _live_fields(order: Order, live) -> dict:
    """The order fields the live row (the latest amend, or the original) decides."""
    if live is None:
        return {}
    fields = {"broker_order_no": live.odno}
    if live.ord_gno_brno:
        fields["krx_orgno"] = live.ord_gno_brno
    if order.order_type.has_price and live.ord_unpr > 0:
        fields["price"] = live.ord_unpr
    return fields


def _agrees(order: Order, bo: BrokerOrder, target: OrderStatus) -> bool:
    """The order's status and quantities are already ``target`` and ``bo``'s (its live fields checked apart)."""
    return (target, bo.view.filled, bo.view.cancelled, bo.amount) == (
        order.status, order.filled_qty, order.cancelled_qty, order.filled_amount)


class Books:
    """The account's rows as their pages arrive, indexed as ``_by_number`` and ``_by_origin`` index them,
    with the page each (date, number) key was last touched on (a row under that number, or an amend or
    cancel of it), and the orders judged in sync from the rows so far (``early``)."""

    def __init__(self) -> None:
        self.rows: list = []
        self.by_number: dict[tuple[str, str], list[tuple[int, object]]] = defaultdict(list)
        self.by_origin: dict[tuple[str, str], list] = defaultdict(list)
        self.touched: dict[tuple[str, str], int] = {}
        self.early: dict[int, Early] = {}
        self.unbuilt: deque[Early] = deque()  # judged to need a correction, not built yet
        self.next_due = 0.0  # when the next page's request is due, about (``perf_counter``; see ``between_pages``)
        self.ahead: dict[int, Ahead] = {}  # the corrections built, by order id
        self.waiting: dict[tuple[str, str], list[Order]] = defaultdict(list)  # orders whose row is not in yet
        self.ready: list[Order] = []  # orders whose row came in since they were set waiting
        self.page = -1

    def add(self, rows: list, number: int) -> None:
        if number == 0 and self.page >= 0:
            self.__init__()  # paging started over from page one: forget everything
        self.page = number
        for row in rows:
            key = (row.ord_dt, row.odno)
            self.by_number[key].append((len(self.rows), row))
            self.touched[key] = number
            if key in self.waiting:
                self.ready += self.waiting.pop(key)
            if not is_original(row):
                origin = (row.ord_dt, row.orgn_odno)
                self.by_origin[origin].append(row)
                self.touched[origin] = number
            self.rows.append(row)

    def holds(self, rows: list) -> bool:
        """These are the very rows added, in order (the fetch reported every page)."""
        return len(rows) == len(self.rows) and all(a is b for a, b in zip(rows, self.rows))

    def untouched_since(self, early: Early) -> bool:
        return all(self.touched.get(key, -1) <= early.page for key in early.keys)


@dataclass(frozen=True)
class Early:
    """An order judged from the rows of pages up to ``page``: in sync (nothing to write or report), or, with
    ``bo``, needing one correction to ``bo`` and nothing else (built ahead: ``Reconciler._build_ahead``).
    The judgement stands if no row touched ``keys`` on a later page and the order, its requests and the day
    are the same at the end."""

    order: Order
    page: int
    keys: tuple  # (its day, a number it owns) for each number mapped to it: what it claims in the books
    today: str
    bo: BrokerOrder | None = None  # the rows' view, when the order needs a correction


@dataclass(frozen=True)
class Ahead:
    """A correction judged from the rows so far (``early``), built ahead of its write, and its report entry."""

    early: Early
    correction: PreparedCorrection
    change: Change


class Snapshot:
    """The ledger side of one account's pass (its orders, their requests), read in steps between pages
    of the books, and whether anything was written to the ledger since the first step."""

    def __init__(self, keys: list[OrderKey]):
        self.keys = keys
        self.by_id: dict[int, Order] = {}
        self.requests: dict[int, list] = {}
        self.marks: tuple[int, int] | None = None

    def steps(self, conn: sqlite3.Connection, *, requests: bool = True) -> Iterator[None]:
        """Read ``STEP`` orders (and their requests) per step."""
        self.marks = write_marks(conn)
        ids = [k.id for k in self.keys]
        for at in range(0, len(ids), STEP):
            self.by_id.update(orders_by_id(conn, ids[at:at + STEP]))
            if requests:
                self.requests.update(request_keys_by_order(conn, ids[at:at + STEP]))
            yield

    def orders(self) -> list[Order]:
        return [self.by_id[k.id] for k in self.keys if k.id in self.by_id]

    def orders_read(self, since: int) -> list[Order]:
        """The orders read after the first ``since`` (in the order they were read)."""
        return list(self.by_id.values())[since:] if since < len(self.by_id) else []

    def unchanged(self, conn: sqlite3.Connection) -> bool:
        """Nothing written to the ledger since the first step, by this connection or another one: what was
        read is what a read now would give."""
        return self.marks is not None and self.marks == write_marks(conn)


class Reconciler:
    """One reconcile pass over the ledger."""

    lead = 0.002  # seconds before the next page is due that building corrections between pages stops

    def __init__(self, rt: Runtime, *, dry_run: bool = False, progress: Callable[[int, int], None] | None = None):
        self.rt, self.dry_run, self.progress = rt, dry_run, progress or (lambda done, total: None)
        self.report = ReconcileReport(dry_run=dry_run)
        self.doubts: dict[str, list[str]] = defaultdict(list)  # account → what reconcile may not fix
        self.requests: dict[int, list] | None = None  # the account's requests by order (the pass's snapshot)
        self.today: str | None = None  # the KST day orders are judged on (read once per batch)
        self._unopened: ExitStack | None = None  # where the current order's savepoint goes at its first write
        self._steps: Iterator[None] | None = None  # the ledger reads left to do between pages of the books
        self._snapshot_of: Snapshot | None = None  # what those reads fill in
        self._books: Books | None = None  # the rows as their pages arrive, and the orders judged early

    def keys_to_check(self) -> list[OrderKey]:
        """The orders a pass checks (open ones, and today's terminal ones), as keys: they are read while
        the books are fetched."""
        conn, today = self.rt.ledger.conn, kst_ymd(self.rt.clock.now())
        open_orders = order_keys(conn, statuses=list(NON_TERMINAL - {OrderStatus.NEW}))
        todays = order_keys(conn, order_date=today, statuses=list(TERMINAL))
        return [k for k in {k.id: k for k in open_orders + todays}.values() if k.order_date]

    def run(self) -> ReconcileReport:
        with collector_paused():
            return self._run()

    def _run(self) -> ReconcileReport:
        if not self.dry_run:
            rec = recover(self.rt, SOURCE, wait=False)
            self.report.recovered, self.report.unresolved = rec.resolved, list(rec.unresolved)
            self.report.in_flight = list(rec.waiting)
        by_account: dict[str, list[OrderKey]] = defaultdict(list)
        for key in self.keys_to_check():
            by_account[key.account].append(key)
        accounts = sorted(set(by_account) | set(self.rt.settings.accounts))
        for done, account in enumerate(accounts, 1):
            self.reconcile_account(account, by_account.get(account, []))
            self.progress(done, len(accounts))
        if not self.dry_run:
            self._halt()
        if not self.dry_run:
            self.rt.ledger.publish("reconcile.finished", self.report.as_dict())
        return self.report

    def _halt(self) -> None:
        """Stop each account with a discrepancy (recovery already stopped those with unknown outcomes)."""
        for account, problems in self.doubts.items():
            if self.rt.ledger.halt_state(account) is None:
                self.rt.ledger.set_halt("reconcile found discrepancies it may not fix: " + "; ".join(problems)[:900],
                                        source=SOURCE, account=account)

    def _doubt(self, order: Order, problem: str) -> None:
        self.report.unresolved.append(f"order {order.id}: {problem}")
        self.doubts[order.account].append(f"order {order.id}: {problem}")

    def fetch(self, account: str, orders: list) -> list:
        """The account's books since the oldest of ``orders`` (anything with an ``order_date``), every page;
        ``self.between_pages`` runs after each page."""
        today = kst_date(self.rt.clock.now())
        oldest = min((o.order_date for o in orders), default=None)  # (YYYYMMDD texts sort as their days do)
        start = min(_ymd_date(oldest), today) if oldest else today
        return self.rt.client.inquire_daily_ccld(account, start, today, on_page=self.between_pages)

    def between_pages(self, rows: list, number: int) -> None:
        """While the rate limit spaces the next page: index the page's rows, read the next step of the
        ledger side, judge the orders read whose rows are all in so far (in sync, or needing one correction
        and nothing else), and build those corrections for a share of the time to the next page."""
        if self._books is None or self._snapshot_of is None:
            return
        self._books.add(rows, number)
        before, ready = len(self._snapshot_of.by_id), self._books.ready
        self._books.ready = []
        next(self._steps, None)
        self._judge_early(ready + self._snapshot_of.orders_read(before))
        self._build_ahead(self._next_due() - self.lead)
        self._books.next_due = max(self._books.next_due, perf_counter()) + self._page_gap()

    def _next_due(self) -> float:
        """About when the next page's request is due (``perf_counter``): when the client's limiter says its
        next grant is due (its pace and window, from its last grant), else the pass's own estimate from the
        client's pace (``Books.next_due``), which cannot see how late the grants actually were."""
        limiter = getattr(self.rt.client, "limiter", None)
        due = limiter.next_due() if hasattr(limiter, "next_due") else None
        if due is None:
            return self._books.next_due
        return perf_counter() + (due - limiter.clock())

    def _page_gap(self) -> float:
        """Seconds between two requests at the client's pace: its rate less its margin (the limiter paces
        at ``rate * (1 - margin)``; 1/rate would put the estimate 1% early per page, ~50 ms by the 100th
        page, time left unused). 0 when it has no rate."""
        conn = getattr(self.rt.client, "conn", None)
        rate, margin = getattr(conn, "rate_per_sec", None), getattr(conn, "rate_margin", 0.0)
        return 1 / (rate * (1 - margin)) if rate else 0.0

    def _judge_early(self, orders: list[Order]) -> None:
        """Remember which of ``orders`` the rows so far show in sync (``reconcile_order`` would write and
        report nothing), or needing one correction and nothing else (built now, written after the last
        page if the judgement stands); every other order is judged after the last page only."""
        books, today = self._books, kst_ymd(self.rt.clock.now())
        for order in orders:
            mine, extra = self.rows_of(order, books.by_number, books.by_origin)
            if not mine and order.broker_order_no and not extra:
                books.waiting[(order.order_date, order.broker_order_no)].append(order)
            if extra or not mine:
                continue
            try:
                bo = broker_order(order, mine, today)
            except ValueError:
                continue
            if bo is None:
                continue
            correcting = not self.in_sync(order, bo)
            if correcting and (order.broker_order_no not in {r.odno for r in bo.rows}
                               or correction_problem(order.quantities, bo.view)):
                continue  # (decided after the last page: a second look, or a discrepancy)
            keys = tuple((order.order_date, n) for n in self.numbers_of(order))
            books.early[order.id] = early = Early(order, books.page, keys, today, bo if correcting else None)
            if correcting:
                books.unbuilt.append(early)

    def _build_ahead(self, until: float | None = None) -> None:
        """Build the corrections judged so far (``Books.unbuilt``, oldest first), until ``perf_counter()``
        passes ``until`` (None: all of them)."""
        books = self._books
        while books.unbuilt and (until is None or perf_counter() < until):
            early = books.unbuilt.popleft()
            ahead = self._correction_ahead(early)
            if ahead is not None:
                books.ahead[early.order.id] = ahead

    def _correction_ahead(self, early: Early) -> Ahead | None:
        """The correction ``apply_view`` would write for the order from the rows' view (the snapshot's
        order: ``fresh``), built now, and its report entry; None when it is not built (it is then written,
        or not, after the last page as ever)."""
        order, bo = early.order, early.bo
        target, moved = self._target(order, bo), self._moved(order, bo)
        try:
            prepared = self.rt.ledger.prepare_correction(order, target, **_correction(order, bo))
        except LedgerError:  # (CorrectionRefused among them)
            return None
        if prepared is None:
            return None
        return Ahead(early, prepared, Change(order.id, order.status.value, target.value, _describe(order, bo, moved)))

    def _early(self, order: Order) -> Early | None:
        """``order``'s early judgement if it stands (see ``Early``), else None."""
        early = self._books.early.get(order.id) if self._books is not None else None
        if early is None or early.order is not order or early.today != self.today:
            return None
        return early if self._books.untouched_since(early) else None

    def reconcile_account(self, account: str, keys: list[OrderKey]) -> None:
        snapshot = Snapshot(keys)
        self._steps = snapshot.steps(self.rt.ledger.conn, requests=not self.dry_run)
        if self.dry_run:  # (the orders as they were before the books, as ever; nothing judged early)
            for _ in self._steps:
                pass
        else:
            self._books, self._snapshot_of, self.requests = Books(), snapshot, snapshot.requests
            self._books.next_due = perf_counter() + self._page_gap()  # (the first page's request goes now)
        try:
            rows = self.fetch(account, keys)  # (the books first: any request behind a row is in the snapshot)
            for _ in self._steps:  # what the pages left to read
                pass
        finally:
            self._steps = self._snapshot_of = None
        books, self._books = self._books, None
        if books is not None and books.holds(rows):
            rows_by_number, rows_by_origin = books.by_number, books.by_origin
        else:  # (the fetch did not report its pages: nothing was judged early)
            rows_by_number, rows_by_origin = _by_number(rows), _by_origin(rows)
        orders = self._snapshot(snapshot)
        if self.requests is snapshot.requests and books is not None and books.holds(rows):
            self._books = books  # the snapshot stands: so do the early judgements (each checked in ``_early``)
            self._build_ahead()  # (those the time between pages left)
        claimed: set[tuple[str, str]] = set()
        stale: list[Order] = []
        at = 0
        while at < len(orders):
            self.today = kst_ymd(self.rt.clock.now())
            with self._batch():
                at = self._batch_from(orders, at, rows_by_number, rows_by_origin, stale, claimed)
        self._books = None
        self.requests = self.today = None  # second looks read the ledger (and the clock) afresh
        for order in stale:
            self.second_look(order)
        self.record_external(account, rows, claimed)

    def _batch_from(self, orders: list[Order], at: int, rows_by_number: dict, rows_by_origin: dict,
                    stale: list[Order], claimed: set[tuple[str, str]]) -> int:
        """The orders from ``at`` on, in the current write transaction, until it holds ``BATCH`` orders
        corrected the usual way, or ``BUILT_PER_USUAL`` times as many built ahead (or in sync), or a mix
        weighed so; returns where the next transaction begins."""
        ahead: list[Ahead] = []  # standing judgements' corrections built ahead, not yet written
        spent, budget = 0, BATCH * BUILT_PER_USUAL
        while at < len(orders) and spent < budget:
            order = orders[at]
            at += 1
            early = self._early(order)
            built = self._books.ahead.get(order.id) if early is not None and early.bo is not None else None
            if built is not None or (early is not None and early.bo is None):
                if built is not None:
                    ahead.append(built)
                claimed.update(early.keys)  # (its numbers on its day: what it owns)
                spent += 1
            else:
                self._write_ahead(ahead, rows_by_number, rows_by_origin, stale)  # (in the orders' order)
                owned = self._one(order, rows_by_number, rows_by_origin, stale)
                claimed.update((order.order_date, n) for n in owned)
                spent += BUILT_PER_USUAL
            self.report.checked += 1
        self._write_ahead(ahead, rows_by_number, rows_by_origin, stale)
        return at

    def _snapshot(self, snapshot: Snapshot) -> list[Order]:
        """The orders as they are now and their requests, as read after the books: what was read between
        pages, unless the ledger was written meanwhile (by anyone); then their requests are read again, and
        the orders whose version moved (a few queries, not a few per order)."""
        conn, orders = self.rt.ledger.conn, snapshot.orders()
        if not self.dry_run and snapshot.unchanged(conn):
            self.requests = snapshot.requests
            return orders
        ids = [o.id for o in orders]
        self.requests = request_keys_by_order(conn, ids)
        if self.dry_run:
            return orders
        versions = versions_by_id(conn, ids)
        fresh = orders_by_id(conn, [o.id for o in orders if versions.get(o.id) != o.version])
        return [fresh.get(o.id, o) for o in orders]

    def _batch(self):
        return nullcontext() if self.dry_run else self.rt.ledger.batch()

    def _write_ahead(self, ahead: list[Ahead], rows_by_number: dict, rows_by_origin: dict,
                     stale: list[Order]) -> None:
        """Write the corrections built ahead, in order, as ``_one`` would write them one by one: together,
        up to one whose order moved since it was read (or whose inferred fill's key is known), which goes
        through ``_one`` (a stale order then gets its second look after the batch, as ever); then the rest."""
        while ahead:
            done = self.rt.ledger.write_corrections([built.correction for built in ahead])
            self.report.changes += [built.change for built in ahead[:done]]
            if done < len(ahead):
                self._one(ahead[done].early.order, rows_by_number, rows_by_origin, stale)
                done += 1
            del ahead[:done]

    def _one(self, order: Order, rows_by_number: dict, rows_by_origin: dict, stale: list[Order]) -> set[str]:
        """One order inside the batch; its writes go in its own savepoint, so they stay or go together
        (opened at its first write: an order already in sync costs no savepoint)."""
        if self.dry_run:
            return self.reconcile_order(order, rows_by_number, rows_by_origin, stale)
        with ExitStack() as scope:
            self._unopened = scope
            try:
                return self.reconcile_order(order, rows_by_number, rows_by_origin, stale)
            finally:
                self._unopened = None

    def _writing(self) -> None:
        """Called before each write: inside ``_one``, open the order's savepoint (once)."""
        scope, self._unopened = self._unopened, None
        if scope is not None:
            scope.enter_context(self.rt.ledger.savepoint())

    def _requests(self, order_id: int) -> list:
        if self.requests is not None:
            return self.requests.get(order_id, [])
        return self.rt.ledger.broker_numbers(order_id)

    def _open_requests(self, order_id: int) -> list:
        return [r for r in self._requests(order_id) if r.state in OPEN_REQUEST_STATES]

    def reconcile_order(self, order: Order, rows_by_number: dict, rows_by_origin: dict,
                        stale: list[Order] | None = None) -> set[str]:
        mine, extra = self.rows_of(order, rows_by_number, rows_by_origin)
        owned = self.numbers_of(order) | {r.odno for r in extra}
        open_kinds = {r.kind for r in self._open_requests(order.id)}
        if any(("cancel" if r.is_cancel else "modify") in open_kinds for r in extra):
            # its own process (or recovery, after the lease) settles that request; never take its number
            self.report.in_flight.append(f"order {order.id}: an amend/cancel is in flight")
            return owned
        for row in extra:
            self.adopt_change(order, row)
        if extra and not self.dry_run:
            order = self.rt.ledger.get(order.id)  # (re-read after writing to it)
        try:
            view = broker_order(order, mine + extra, self.today or kst_ymd(self.rt.clock.now()))
        except ValueError as exc:  # the broker's rows contradict themselves (e.g. filled more than ordered)
            self._doubt(order, f"the broker's rows do not add up: {exc}")
            return owned
        if view is not None and not self.apply_view(order, view, fresh=True) and not self.dry_run:
            if stale is None:
                self.second_look(order)
            else:
                stale.append(order)  # after the batch's commit: no write lock held across a broker call
        return owned

    def numbers_of(self, order: Order) -> set[str]:
        """Every broker number the ledger maps to ``order`` (new, amends, cancels)."""
        return {n.broker_order_no for n in self._requests(order.id) if n.broker_order_no}

    def rows_of(self, order: Order, rows_by_number: dict, rows_by_origin: dict) -> tuple[list, list]:
        """The order's rows: those under numbers we mapped (looked up by date and number, in the books'
        order), and amends/cancels chained to them (not mapped)."""
        numbers = self.numbers_of(order)
        hits = [hit for n in numbers for hit in rows_by_number.get((order.order_date, n), ())]
        mine = [row for _, row in sorted(hits, key=lambda hit: hit[0])]
        return mine, chain(rows_by_origin, set(numbers), order.order_date)

    def view_of(self, order: Order, rows_by_number: dict, rows_by_origin: dict) -> BrokerOrder | None:
        """The broker's view of one order from the account's rows."""
        mine, extra = self.rows_of(order, rows_by_number, rows_by_origin)
        return broker_order(order, mine + extra, kst_ymd(self.rt.clock.now()))

    def second_look(self, order: Order) -> None:
        """The ledger moved past our snapshot (a notice, another process): judge on fresh books only."""
        day = _ymd_date(order.order_date)
        rows = self.rt.client.inquire_daily_ccld(order.account, day, kst_date(self.rt.clock.now()),
                                                 symbol=order.symbol)
        view = self.view_of(order, _by_number(rows), _by_origin(rows))
        if view is not None and not self.apply_view(order, view, last_look=True):
            self.report.in_flight.append(f"order {order.id}: kept changing while reconcile looked; next run checks it")

    def apply_view(self, order: Order, bo: BrokerOrder, *, last_look: bool = False, fresh: bool = False) -> bool:
        """Force one order to ``bo``. False when the snapshot may be stale (the ledger moved past it, or
        moved while we wrote): a second look is due, or on the last look, the next run. ``fresh``: ``order``
        was just read (the pass's snapshot); otherwise it is read again here."""
        order = order if self.dry_run or fresh else self.rt.ledger.get(order.id)
        if order.broker_order_no not in {r.odno for r in bo.rows}:
            return self.number_missing(order, last_look)
        target, moved = self._target(order, bo), self._moved(order, bo)
        if not moved and _agrees(order, bo, target):
            return True
        problem = correction_problem(order.quantities, bo.view)
        if problem:
            if last_look or self.dry_run:
                self._doubt(order, problem)
            return last_look or self.dry_run
        if not self.dry_run:
            self._writing()
            try:
                self.rt.ledger.correct(order.id, target, expected_version=order.version, known=order,
                                       **_correction(order, bo))
            except (StaleOrder, CorrectionRefused):
                return False
        self.report.changes.append(Change(order.id, order.status.value, target.value, _describe(order, bo, moved)))
        return True

    def in_sync(self, order: Order, bo: BrokerOrder) -> bool:
        """The ledger already says what ``bo`` says: its number among the rows, nothing to correct."""
        if order.broker_order_no not in {r.odno for r in bo.rows} or self._moved(order, bo):
            return False
        return _agrees(order, bo, self._target(order, bo))

    def _target(self, order: Order, bo: BrokerOrder) -> OrderStatus:
        target = broker_status(bo.view)
        if order.status in PENDING and self._open_requests(order.id):
            target = order.status if target not in (OrderStatus.FILLED,) else target
        return target

    @staticmethod
    def _moved(order: Order, bo: BrokerOrder) -> dict:
        return {k: v for k, v in bo.live_fields.items() if getattr(order, k) != v}

    def number_missing(self, order: Order, last_look: bool) -> bool:
        """The ledger knows a number these books do not show: an amend accepted after they were read, or
        books lagging behind it. Judged on them, the order would go back to a dead number (or look
        cancelled), so nothing is decided; once the number is older than the lookup window, that is a
        discrepancy. Returns like ``apply_view``."""
        if not (last_look or self.dry_run):
            return False
        hit = self.rt.ledger.request_for_broker_number(order.broker_order_no, order.order_date)
        since = hit[1].resolved_at if hit else None
        if since is None or self.rt.clock.now() - since > lookup_grace(self.rt):
            self._doubt(order, f"the broker's books do not list its number {order.broker_order_no} (accepted "
                               f"{since or 'at an unknown time'}); check it in KIS (HTS/MTS)")
        else:
            self.report.in_flight.append(f"order {order.id}: the books do not show its number "
                                         f"{order.broker_order_no} yet; the next run checks it")
        return True

    def adopt_change(self, order: Order, row) -> None:
        detail = f"{'cancel' if row.is_cancel else 'amend'} {row.odno} of {row.orgn_odno} found at the broker"
        self.report.changes.append(Change(order.id, order.status.value, order.status.value, detail))
        if not self.dry_run:
            self._writing()
            self.rt.ledger.record_change(order.id, kind="cancel" if row.is_cancel else "modify",
                                         broker_order_no=row.odno, krx_orgno=row.ord_gno_brno, order_date=row.ord_dt,
                                         raw_payload=row.raw, source=SOURCE)

    def record_external(self, account: str, rows: list, claimed: set[tuple[str, str]]) -> None:
        """Record (report) each original order kisoms did not place; one already recorded is not reported
        again, by a dry run either."""
        known: dict[str, set[str]] = {}
        recorded = {(e["order_date"], e["broker_order_no"])
                    for e in self.rt.ledger.external_orders(include_claimed=True)} if self.dry_run else set()
        for row in rows:
            if row.ord_dt not in known:
                known[row.ord_dt] = self.rt.ledger.known_broker_numbers(row.ord_dt)
            if not is_original(row) or (row.ord_dt, row.odno) in claimed or row.odno in known[row.ord_dt] \
                    or (row.ord_dt, row.odno) in recorded:
                continue
            if self.dry_run or self.rt.ledger.record_external(
                    order_date=row.ord_dt, broker_order_no=row.odno, account=account, symbol=row.pdno,
                    side=row.side.value, qty=row.ord_qty, price=row.ord_unpr, raw=row.raw):
                self.report.external.append({"account": account, "odno": row.odno, "symbol": row.pdno,
                                             "side": row.side.value, "qty": row.ord_qty, "price": row.ord_unpr})


def _describe(order: Order, bo: BrokerOrder, moved: dict) -> str:
    lives = "".join(f", {k} {getattr(order, k)}→{v}" for k, v in moved.items())
    return (f"filled {order.filled_qty}→{bo.view.filled}, cancelled {order.cancelled_qty}→{bo.view.cancelled}, "
            f"amount {order.filled_amount}→{bo.amount}{lives}")


def _correction(order: Order, bo: BrokerOrder) -> dict:
    """What a correction of ``order`` to ``bo`` writes besides its target status (``Ledger.correct``'s
    arguments, as ``Ledger.prepare_correction`` takes them too)."""
    return {"source": SOURCE, "raw_payload": {"rows": [r.raw for r in bo.rows]}, "quantities": bo.view.quantities,
            "filled_amount": bo.amount, "inferred_fill": _inferred_fill(order, bo), **bo.live_fields}


def _inferred_fill(order: Order, bo: BrokerOrder) -> Fill | None:
    missing = bo.view.filled - order.filled_qty
    if missing <= 0:
        return None
    amount = bo.amount - order.filled_amount
    key = f"r:{order.order_date}:{order.id}:{bo.view.filled}:{bo.amount}"
    return Fill(order_id=order.id, broker_order_no=bo.live_number or "", qty=missing,
                price=round(amount / missing), fill_time="", source=SOURCE, dedupe_key=key)


def reconcile(rt: Runtime, *, dry_run: bool = False, progress=None) -> ReconcileReport:
    """One reconcile pass; see the module docstring."""
    return Reconciler(rt, dry_run=dry_run, progress=progress).run()
