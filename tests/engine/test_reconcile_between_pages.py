"""Reconcile reads the ledger side (orders, requests) between pages of the broker's books, while the rate
limit spaces the next request; every decision still waits for the last page. These tests pin that down:
an order whose cancel row is on a later page than its own row is judged on both rows (one correction,
straight to cancelled), and the pass gives the very ledger a pass reading everything after the last page
gives."""

from __future__ import annotations

import gc
import json
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import timedelta

import pytest

from engine_helpers import ACCOUNT, make_settings
from engine_helpers import intent as make_intent
from kisoms.domain.states import OrderEvent, OrderStatus
from kisoms.engine.reconcile import Change, ReconcileReport, Reconciler
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.ledger import Ledger

TS = re.compile(r"\d{4}-\d\d-\d\dT[0-9:.]+(?:[+-]\d\d:\d\d|Z)?")


def intent(n: int):
    return make_intent(n, price=69000 + 100 * n, strategy_version="pages")


def hts_change(rt, order, kind: str, qty: int, price: int = 0, all_qty: bool = False):
    """An amend or cancel sent by hand, outside the ledger (as from HTS)."""
    return rt.client.order_rvsecncl(order.account, order.krx_orgno, order.broker_order_no,
                                    order.order_type.ord_dvsn, kind, qty, str(price), all_qty)


def paged(rt) -> list[list[str]]:
    """Record the order numbers of each page the books arrive in (the hook reconcile passes still runs)."""
    pages: list[list[str]] = []
    real = rt.client.inquire_daily_ccld

    def books(*args, on_page=None, **kwargs):
        def seen(rows, number):
            pages.append([r.odno for r in rows])
            if on_page is not None:
                on_page(rows, number)
        return real(*args, on_page=seen, **kwargs)

    rt.client.inquire_daily_ccld = books
    return pages


def corrections(rt, order_id: int) -> list[dict]:
    rows = rt.ledger.conn.execute("SELECT payload FROM events WHERE order_id = ? AND kind = 'order.corrected' "
                                  "ORDER BY id", (order_id,)).fetchall()
    return [json.loads(r[0]) for r in rows]


class Counting(Reconciler):
    """Counts the orders whose judgement from the rows of earlier pages stood at the end."""

    stood = 0

    def _early(self, order):
        owned = super()._early(order)
        self.stood += owned is not None
        return owned


def test_an_order_whose_cancel_row_is_on_a_later_page_is_corrected_once_from_both_rows(rt, sim):
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(5)]
    assert Reconciler(rt).run().changes  # (SENT → ACCEPTED: from now on the ledger agrees with the rows)
    orders = [rt.ledger.get(o.id) for o in orders]
    first = orders[0]
    cancel_ack = hts_change(rt, first, "cancel", first.qty, all_qty=True)  # booked last: on the last page
    sim.admin.fill(orders[2].broker_order_no, 4, orders[2].price)  # (a fill the ledger has not seen)
    earlier = len(corrections(rt, first.id))
    pages = paged(rt)
    counting = Counting(rt)
    report = counting.run()
    assert counting.stood >= 2  # (orders 1 and 3: judged early, and it stood)
    on_page = {odno: at for at, page in enumerate(pages) for odno in page}
    assert len(pages) >= 3 and on_page[cancel_ack.odno] > on_page[first.broker_order_no]
    after = rt.ledger.get(first.id)
    assert after.status is OrderStatus.CANCELLED and after.cancelled_qty == first.qty
    fixes = corrections(rt, first.id)[earlier:]
    assert len(fixes) == 1, fixes  # one correction from both rows (never one from its own row, then another)
    changes = [c for c in report.changes if c.order_id == first.id]
    assert len(changes) == 2 and changes[0].detail.startswith(f"cancel {cancel_ack.odno}")
    assert changes[1].after == OrderStatus.CANCELLED.value and str(first.qty) in changes[1].detail
    corrected = [h for h in rt.ledger.history(first.id) if h.event == "corrected"][earlier:]
    assert len(corrected) == 1 and [r["odno"] for r in corrected[0].raw_payload["rows"]] == \
        [first.broker_order_no, cancel_ack.odno]  # both rows, in the books' order
    assert rt.ledger.get(orders[2].id).filled_qty == 4
    assert Reconciler(rt).run().in_sync


def test_a_row_on_a_later_page_overrides_what_earlier_pages_showed(rt, sim):
    """The order's own row (page one) agrees with the ledger; a refused cancel of it, booked elsewhere, is
    on the last page: the pass still maps that cancel (as a pass judging after the last page does)."""
    orders = [submit(rt, intent(n)).order for n in range(4)]
    assert Reconciler(rt).run().changes  # (SENT → ACCEPTED)
    real = rt.client.inquire_daily_ccld

    def books(account, start, end, *, on_page=None, **kwargs):
        rows = real(account, start, end, **kwargs)
        own = next(r for r in rows if r.odno == orders[0].broker_order_no)
        fields = {"odno": "0000009001", "orgn_odno": own.odno, "cncl_yn": "Y", "rjct_qty": own.ord_qty,
                  "rmn_qty": 0}
        rows = rows + [replace(own, **fields, raw={**own.raw, **{k: str(v) for k, v in fields.items()}})]
        for number, at in enumerate(range(0, len(rows), 2)):  # two rows a page: the cancel on the last
            if on_page is not None:
                on_page(rows[at:at + 2], number)
        return rows

    rt.client.inquire_daily_ccld = books
    counting = Counting(rt)
    report = counting.run()
    assert counting.stood >= 2  # (the other orders: judged on page one or two, and it stood)
    assert [c.detail for c in report.changes if c.order_id == orders[0].id] == \
        [f"cancel 0000009001 of {orders[0].broker_order_no} found at the broker"]
    assert ("cancel", "accepted", "0000009001") in [(n.kind, n.state, n.broker_order_no)
                                                     for n in rt.ledger.broker_numbers(orders[0].id)]


class Sequential(Reconciler):
    """Reads nothing between pages: every ledger read after the last page (the pass before the overlap)."""

    def between_pages(self, rows, number):
        pass


def _normalised(path) -> dict:
    """Every table that reconcile writes, timestamps and hashes left out (two passes run at different times)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for table, skip in (("orders", {"updated_at"}), ("events", {"ts"}), ("audit_log", {"ts", "prev_hash", "hash"}),
                            ("broker_order_map", {"sent_at", "resolved_at"}), ("fills", {"recorded_at"}),
                            ("external_orders", {"first_seen"})):
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
            names = [d[0] for d in cursor.description]
            out[table] = [{k: TS.sub("<ts>", v) if isinstance(v, str) else v for k, v in zip(names, row)
                           if k not in skip} for row in cursor]
        return out
    finally:
        conn.close()


def test_reading_between_pages_gives_the_ledger_a_pass_reading_after_the_last_page_gives(rt, sim, tmp_path):
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(7)]
    assert Reconciler(rt).run().changes  # (SENT → ACCEPTED: from now on the ledger agrees with the rows)
    orders = [rt.ledger.get(o.id) for o in orders]
    hts_change(rt, orders[1], "cancel", orders[1].qty, all_qty=True)
    hts_change(rt, orders[3], "amend", orders[3].qty, price=orders[3].price - 100, all_qty=True)
    sim.admin.fill(orders[4].broker_order_no, 3, orders[4].price)
    sim.admin.fill(orders[5].broker_order_no, orders[5].qty, orders[5].price)
    copy = tmp_path / "copy" / "ledger.db"
    copy.parent.mkdir(mode=0o700)
    target = sqlite3.connect(copy)
    rt.ledger.conn.backup(target)
    target.close()
    pages = paged(rt)
    counting = Counting(rt)
    overlapped = counting.run()
    assert len(pages) >= 4 and overlapped.changes and counting.stood >= 2
    settings = make_settings(sim, tmp_path / "copy", state_dir=str(tmp_path / "state"), ledger=str(copy))
    with open_runtime(settings) as other:
        sequential = Sequential(other).run()
    assert [(c.order_id, c.before, c.after, c.detail) for c in overlapped.changes] == \
        [(c.order_id, c.before, c.after, c.detail) for c in sequential.changes]
    assert (overlapped.unresolved, overlapped.external, overlapped.in_flight) == \
        (sequential.unresolved, sequential.external, sequential.in_flight)
    assert _normalised(rt.ledger.path) == _normalised(copy)


def test_a_request_claimed_between_pages_is_in_the_snapshot_the_pass_judges_on(rt, sim):
    """Another process claims a cancel after reconcile read the order's requests, and the cancel is booked
    (its row on a later page): the pass must see that request (in flight), not adopt the row as a change
    made elsewhere, exactly as when it read the requests after the last page."""
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(5)]
    assert Reconciler(rt).run().changes  # (SENT → ACCEPTED: the target is in sync with its row on page one)
    target, pages, real = rt.ledger.get(orders[0].id), [], rt.client.inquire_daily_ccld

    def books_while_another_process_cancels(*args, on_page=None, **kwargs):
        def seen(rows, number):
            if on_page is not None:
                on_page(rows, number)  # (reconcile's read step first: the claim below comes after it)
            pages.append(number)
            if number == 0:
                with Ledger(rt.ledger.path, now=rt.clock.now) as other:
                    assert other.claim(target.id, kind="cancel", request={"qty": target.qty}, tr_id="TTTC0803U",
                                       source="other") is not None
                hts_change(rt, target, "cancel", target.qty, all_qty=True)  # its request stays "sending"
        return real(*args, on_page=seen, **kwargs)

    rt.client.inquire_daily_ccld = books_while_another_process_cancels
    report = Reconciler(rt).run()
    assert len(pages) >= 3
    assert f"order {target.id}: an amend/cancel is in flight" in report.in_flight
    assert not [c for c in report.changes if c.order_id == target.id]  # the row is not adopted
    assert [(n.kind, n.state) for n in rt.ledger.broker_numbers(target.id)] == [("new", "accepted"), ("cancel", "sending")]


def test_a_write_between_pages_makes_the_pass_read_the_ledger_again(rt, sim):
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(5)]
    sim.admin.fill(orders[0].broker_order_no, orders[0].qty, orders[0].price)
    pages, real = [], rt.client.inquire_daily_ccld

    def books_while_a_notice_lands(*args, on_page=None, **kwargs):
        def seen(rows, number):
            if on_page is not None:
                on_page(rows, number)  # (the snapshot step first: the write below comes after it)
            pages.append(number)
            if number == 1:  # the watcher records the fill after reconcile read the order
                rt.ledger.correct(orders[0].id, OrderStatus.FILLED, source="watch", raw_payload={},
                                  quantities=orders[0].quantities.__class__(orders[0].qty, orders[0].qty, 0),
                                  filled_amount=orders[0].qty * orders[0].price)
        return real(*args, on_page=seen, **kwargs)

    rt.client.inquire_daily_ccld = books_while_a_notice_lands
    report = Reconciler(rt).run()
    assert len(pages) >= 3
    assert report.unresolved == [] and rt.ledger.halt_state(ACCOUNT) is None
    assert not [c for c in report.changes if c.order_id == orders[0].id]  # judged on the order as it is now
    assert rt.ledger.get(orders[0].id).filled_qty == orders[0].qty


class Eager(Counting):
    """Builds every correction between pages, whatever the time left to the next page, and records which
    orders' corrections were built between pages and which were handed to the write as built."""

    lead = float("-inf")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.built_between: set[int] = set()
        self.offered: list[int] = []

    def _build_ahead(self, until=None):
        super()._build_ahead(until)
        if until is not None:
            self.built_between |= set(self._books.ahead)

    def _write_ahead(self, ahead, *args):
        self.offered += [built.early.order.id for built in ahead]
        super()._write_ahead(ahead, *args)


def _copy(rt, tmp_path):
    copy = tmp_path / "copy" / "ledger.db"
    copy.parent.mkdir(mode=0o700)
    target = sqlite3.connect(copy)
    rt.ledger.conn.backup(target)
    target.close()
    return copy


def _sequential(sim, tmp_path, copy, clock_now=None):
    settings = make_settings(sim, tmp_path / "copy", state_dir=str(tmp_path / "state"), ledger=str(copy))
    with open_runtime(settings) as other:
        if clock_now is not None:
            other.clock.now = clock_now
        return Sequential(other).run()


def _same_pass(overlapped, sequential, rt, copy):
    assert [(c.order_id, c.before, c.after, c.detail) for c in overlapped.changes] == \
        [(c.order_id, c.before, c.after, c.detail) for c in sequential.changes]
    assert (overlapped.unresolved, overlapped.external, overlapped.in_flight) == \
        (sequential.unresolved, sequential.external, sequential.in_flight)
    assert _normalised(rt.ledger.path) == _normalised(copy)
    assert rt.ledger.verify_audit_chain() > 0


def test_corrections_built_between_pages_give_the_ledger_a_pass_judging_after_the_last_page_gives(rt, sim, tmp_path):
    """Fresh orders (SENT, to be corrected to ACCEPTED), fills the ledger has not seen (inferred fills), a
    cancel and an amend made elsewhere: the corrections the rows so far call for are built between pages and
    written together after the last page, and the ledger is the one a pass judging after the last page gives."""
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(8)]
    hts_change(rt, orders[1], "cancel", orders[1].qty, all_qty=True)
    sim.admin.fill(orders[4].broker_order_no, 3, orders[4].price)
    sim.admin.fill(orders[5].broker_order_no, orders[5].qty, orders[5].price)
    copy = _copy(rt, tmp_path)
    pages = paged(rt)
    eager = Eager(rt)
    overlapped = eager.run()
    assert len(pages) >= 4
    written = set(eager.offered)
    assert {orders[n].id for n in (0, 2, 4, 5, 6)} <= written <= eager.built_between  # (order 7: on the last page)
    assert orders[1].id not in written  # (its cancel row: judged after the last page)
    assert rt.ledger.fills(orders[4].id)[0].source == "reconcile"
    _same_pass(overlapped, _sequential(sim, tmp_path, copy), rt, copy)
    assert Reconciler(rt).run().in_sync


def test_a_row_on_a_later_page_voids_a_correction_built_from_earlier_pages(rt, sim):
    """The order's own row (page one) calls for SENT → ACCEPTED; its cancel, booked last, is on the last page:
    the correction built from page one is not written, the order is corrected once from both rows."""
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(5)]
    first = orders[0]
    cancel_ack = hts_change(rt, first, "cancel", first.qty, all_qty=True)
    pages = paged(rt)
    eager = Eager(rt)
    report = eager.run()
    on_page = {odno: at for at, page in enumerate(pages) for odno in page}
    assert on_page[cancel_ack.odno] > on_page[first.broker_order_no]
    assert first.id in eager.built_between and first.id not in eager.offered
    assert {o.id for o in orders[1:3]} <= set(eager.offered)
    after = rt.ledger.get(first.id)
    assert after.status is OrderStatus.CANCELLED and after.cancelled_qty == first.qty
    assert len(corrections(rt, first.id)) == 1
    assert [c.detail for c in report.changes if c.order_id == first.id][0].startswith(f"cancel {cancel_ack.odno}")


def test_an_order_written_by_another_process_after_its_correction_was_built_is_judged_again(rt, sim, tmp_path):
    """Another process writes to an order after the pass built its correction (and after the snapshot was
    checked): the built correction is not written over it; the order goes the usual way (a stale snapshot:
    a second look on fresh books), the orders around it are written as built."""
    orders = [submit(rt, intent(n)).order for n in range(4)]
    target = orders[1]
    sim.admin.fill(target.broker_order_no, target.qty, target.price)

    class Interrupted(Eager):
        moved = None

        def _batch(self):  # (after the snapshot was found unchanged, before the first batch takes the lock)
            if self.moved is None:
                with Ledger(rt.ledger.path, now=rt.clock.now) as other:
                    self.moved = other.transition(target.id, OrderEvent.ACKNOWLEDGED, source="other")
            return super()._batch()

    interrupted = Interrupted(rt)
    report = interrupted.run()
    assert target.id in interrupted.offered
    fixed = rt.ledger.get(target.id)
    assert (fixed.status, fixed.filled_qty) == (OrderStatus.FILLED, target.qty)
    fixes = corrections(rt, target.id)
    assert len(fixes) == 1 and fixes[0]["prev_status"] == OrderStatus.ACCEPTED.value  # (judged on the order as it is)
    assert {c.order_id for c in report.changes} == {o.id for o in orders}
    assert rt.ledger.verify_audit_chain() > 0


def test_a_day_change_between_pages_voids_the_corrections_built_on_the_day_before(rt, sim, tmp_path):
    """The KST day turns while the pages arrive: corrections built on the earlier day (SENT → ACCEPTED) are
    not written; after the last page the orders are judged on the new day (a day order with quantity left
    has expired), exactly as a pass run on the new day judges them."""
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(5)]
    copy = _copy(rt, tmp_path)
    real_now = rt.clock.now
    next_day = lambda: real_now() + timedelta(days=1)  # noqa: E731
    pages, real = [], rt.client.inquire_daily_ccld

    def books_while_the_day_turns(*args, on_page=None, **kwargs):
        def seen(rows, number):
            if on_page is not None:
                on_page(rows, number)
            pages.append(number)
            if number == 1:
                built_before.update(eager.built_between)
                rt.clock.now = next_day
        return real(*args, on_page=seen, **kwargs)

    rt.client.inquire_daily_ccld = books_while_the_day_turns
    built_before: set[int] = set()
    eager = Eager(rt)
    overlapped = eager.run()
    assert len(pages) >= 3 and built_before and not built_before & set(eager.offered)
    assert {rt.ledger.get(o.id).status for o in orders} == {OrderStatus.CANCELLED}
    _same_pass(overlapped, _sequential(sim, tmp_path, copy, next_day), rt, copy)


def test_the_report_as_a_dict_is_its_fields_as_asdict_gives_them_and_in_sync():
    report = ReconcileReport(checked=2, changes=[Change(1, "SENT", "ACCEPTED", "filled 0→0")],
                             external=[{"odno": "0000000009", "qty": 3}], unresolved=["u"], recovered=["r"],
                             in_flight=["f"])
    shown = report.as_dict()
    assert shown == {**asdict(report), "in_sync": False} and list(shown) == [*asdict(report), "in_sync"]
    assert shown["external"][0] is not report.external[0] and shown["changes"][0]["order_id"] == 1


class Watching(Reconciler):
    """Records, after each page, whether the collector runs and how many corrections stand built."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.collecting: list[bool] = []
        self.built: list[int] = []

    def between_pages(self, rows, number):
        super().between_pages(rows, number)
        self.collecting.append(gc.isenabled())
        self.built.append(len(self._books.ahead) if self._books is not None else -1)


def test_the_collector_is_off_during_a_pass_and_as_it_was_after(rt, sim):
    sim.admin.configure(page_size=2)
    for n in range(5):
        submit(rt, intent(n))
    assert gc.isenabled()
    watching = Watching(rt)
    assert watching.run().changes
    assert watching.collecting and not any(watching.collecting) and gc.isenabled()
    gc.disable()
    try:
        Watching(rt).run()
        assert not gc.isenabled()  # (left off, as the caller had it)
    finally:
        gc.enable()

    class Failing(Reconciler):
        def between_pages(self, rows, number):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Failing(rt).run()
    assert gc.isenabled()


def test_corrections_are_built_between_pages_until_the_limiter_says_the_next_request_is_due(rt, sim, monkeypatch):
    """The time left to the next page comes from the client's limiter (``next_due``, on its clock): already
    due, nothing is built between pages; due a while from now, the corrections the rows call for are."""
    sim.admin.configure(page_size=2)
    first = [submit(rt, intent(n)).order.id for n in range(6)]
    limiter = rt.client.limiter
    monkeypatch.setattr(limiter, "next_due", lambda: limiter.clock() - 1.0)
    late = Watching(rt)
    assert [c.order_id for c in late.run().changes] == first
    assert len(late.built) >= 3 and set(late.built) == {0}
    second = [submit(rt, intent(n)).order.id for n in range(6, 12)]
    monkeypatch.setattr(limiter, "next_due", lambda: limiter.clock() + 60.0)
    early = Watching(rt)
    assert [c.order_id for c in early.run().changes] == second
    assert max(early.built) >= 4  # (the rows of every page but the last: built as they came)
    assert Reconciler(rt).run().in_sync


def test_a_write_transaction_holds_up_to_batch_orders_corrected_the_usual_way_or_more_built_ones(
        rt, sim, tmp_path, monkeypatch):
    """Built corrections weigh ``1 / BUILT_PER_USUAL`` of an order corrected the usual way: with a budget of
    two usual orders (six built ones), the first order (its cancel row on the last page: the usual way, two
    changes) and three built ones fill the first transaction, the five other built ones the second; and the
    ledger is the one a pass judging after the last page gives."""
    import kisoms.engine.reconcile as module

    monkeypatch.setattr(module, "BATCH", 2)
    monkeypatch.setattr(module, "BUILT_PER_USUAL", 3)
    sim.admin.configure(page_size=2)
    orders = [submit(rt, intent(n)).order for n in range(9)]
    hts_change(rt, orders[0], "cancel", orders[0].qty, all_qty=True)
    copy = _copy(rt, tmp_path)
    sizes: list[int] = []
    real_batch = rt.ledger.batch

    def counted():
        before = len(eager.report.changes)
        with real_batch() as conn:
            yield conn
        sizes.append(len(eager.report.changes) - before)

    monkeypatch.setattr(rt.ledger, "batch", contextmanager(counted))
    eager = Eager(rt)
    overlapped = eager.run()
    assert set(eager.offered) == {o.id for o in orders[1:]}
    assert sizes == [2 + 3, 5]  # (changes per transaction: the usual order's adopted cancel and correction)
    _same_pass(overlapped, _sequential(sim, tmp_path, copy), rt, copy)
