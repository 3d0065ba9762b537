"""A burst of plain fill notices is written at once (``notices.apply_fills``): the ledger it leaves must be
exactly the one the one-notice-at-a-time path leaves, table by table, row by row; a burst with anything
unusual in it (a duplicate, an unknown order, an overfill, a known key) is applied one by one, as before."""

from __future__ import annotations

import dataclasses
import gc
import sqlite3
from datetime import datetime, timezone

import pytest

from engine_helpers import intent
from kisoms.domain.states import OrderStatus
from kisoms.engine import watch as watch_module
from kisoms.engine.submit import submit
from kisoms.engine.watch import Watcher
from kisoms.kis.notices import ExecutionNotice
from kisoms.ledger import Ledger, fillrows

pytestmark = pytest.mark.dates(session_only=True)  # order flows: at the in-session anchors of tests/clocks.py

FIXED = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=timezone.utc)  # both ledgers' clock: equal ts


def _fill(order, second: int, qty: int = 1, price: int = 70000, odno: str | None = None) -> ExecutionNotice:
    """A fill notice (CNTG_YN=2) of ``qty`` at ``price`` for ``order``, as the notice parser builds it."""
    return ExecutionNotice(fields={
        "CUST_ID": "simuser", "ACNT_NO": order.account.replace("-", ""), "ODER_NO": odno or order.broker_order_no,
        "OODER_NO": "", "SELN_BYOV_CLS": "02", "RCTF_CLS": "0", "ODER_KIND": "00", "ODER_COND": "0",
        "STCK_SHRN_ISCD": order.symbol, "CNTG_QTY": str(qty), "CNTG_UNPR": str(price),
        "STCK_CNTG_HOUR": f"0930{second:02d}", "RFUS_YN": "0", "CNTG_YN": "2", "ACPT_YN": "2", "BRNC_NO": "91252",
        "ODER_QTY": str(order.qty), "ACNT_NAME": "", "ORD_COND_PRC": "", "ORD_EXG_GB": "1", "POPUP_YN": "N",
        "FILLER": "", "CRDT_CLS": "10", "CRDT_LOAN_DATE": "", "CNTG_ISNM40": "", "ODER_PRC": str(price)})


@pytest.fixture
def twins(rt, sim, tmp_path):
    """Three working orders (qty 10, 11, 12, not filled), and two runtimes on two identical copies of the
    ledger, both with the clock ``FIXED``: (orders, runtime A, runtime B)."""
    placed = [submit(rt, intent(n, qty=10 + n, price=60000)).order for n in range(3)]
    runtimes = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.db"
        with sqlite3.connect(path) as copy:
            rt.ledger.conn.backup(copy)
        copy.close()
        ledger = Ledger(path, now=lambda: FIXED)
        runtimes.append(dataclasses.replace(rt, ledger=ledger))
    yield placed, runtimes[0], runtimes[1]
    for runtime in runtimes:
        runtime.ledger.close()


def _tables(ledger: Ledger) -> dict[str, list[tuple]]:
    """Every row of every table, in rowid order (sqlite_sequence included)."""
    names = [r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: ledger.conn.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names}


@pytest.fixture
def spy(monkeypatch):
    """What each call of ``apply_fills`` answered (None: the burst went one notice at a time)."""
    answers: list = []
    real = watch_module.apply_fills

    def recorded(rt, notices):
        answers.append(real(rt, notices))
        return answers[-1]

    monkeypatch.setattr(watch_module, "apply_fills", recorded)
    return answers


def _apply_both(bursts, a, b, spy, monkeypatch):
    """Each burst through the watcher on A (plain fills at once when it can), and one by one on B."""
    for burst in bursts:
        Watcher(a).apply_notices(burst)
    with monkeypatch.context() as m:
        m.setattr(watch_module, "apply_fills", lambda rt, notices: None)
        for burst in bursts:
            Watcher(b).apply_notices(burst)
    assert _tables(a.ledger) == _tables(b.ledger)
    assert a.ledger.verify_audit_chain() == b.ledger.verify_audit_chain() > 0


def test_a_burst_of_plain_fills_leaves_exactly_the_rows_of_the_one_by_one_path(twins, spy, monkeypatch):
    placed, a, b = twins
    # several fills per order in one burst, interleaved; the first order is filled in full (-> FILLED)
    burst = [_fill(o, s, qty=1 + s % 2, price=60000 - s) for s in range(4) for o in placed]
    burst.append(_fill(placed[0], 9, qty=10 - sum(1 + s % 2 for s in range(4))))
    _apply_both([burst, [_fill(placed[1], 20)]], a, b, spy, monkeypatch)
    assert [answer is not None for answer in spy] == [True, True]  # both bursts went at once
    assert a.ledger.get(placed[0].id).status is OrderStatus.FILLED
    assert a.ledger.get(placed[1].id).status is OrderStatus.PART_FILLED
    assert len(a.ledger.fills(placed[1].id)) == 5


def test_odd_notice_texts_and_prices_leave_the_rows_of_the_one_by_one_path(twins, spy, monkeypatch):
    """The burst's rows (``fillrows``: the audit text laid into a form, the event text and hash by hand) for
    notices whose texts need escaping or are not ASCII, a field with spaces around its digits, an extra
    field beyond the layout, odd prices: the same ledger, row for row, as the one-by-one path."""
    placed, a, b = twins
    odd = [{"CNTG_ISNM40": "삼성전자 우"}, {"CNTG_ISNM40": 'quote " back \\ tab \t'}, {"CNTG_QTY": " 2 "},
           {"FILLER": "\u2028%s%%"}, {"CNTG_UNPR": "1"}, {"CNTG_UNPR": "999999999"}]
    burst = [ExecutionNotice(fields={**_fill(placed[i % 3], i).fields, **change}) for i, change in enumerate(odd)]
    burst.append(ExecutionNotice(fields=_fill(placed[0], 9).fields, extra=("trailing", "fields")))
    _apply_both([burst, [_fill(o, 30) for o in placed]], a, b, spy, monkeypatch)
    assert [answer is not None for answer in spy] == [True, True]
    assert [a.ledger.get(o.id).filled_qty for o in placed] == [4, 3, 4]


@pytest.mark.parametrize("odd", ["duplicate_in_burst", "known_key", "unknown_order", "overfill", "acknowledgement"])
def test_a_burst_with_anything_unusual_is_applied_one_by_one_exactly_as_before(twins, spy, monkeypatch, odd):
    placed, a, b = twins
    burst = [_fill(o, 1) for o in placed]
    first = [_fill(placed[2], 5)]
    if odd == "duplicate_in_burst":
        burst.append(_fill(placed[1], 1))
    elif odd == "known_key":
        burst.append(first[0])
    elif odd == "unknown_order":
        burst.insert(1, _fill(placed[0], 2, odno="0009999999"))
    elif odd == "overfill":
        burst.append(_fill(placed[0], 3, qty=placed[0].qty))
    else:
        burst.append(ExecutionNotice(fields={**_fill(placed[0], 4).fields, "CNTG_YN": "1", "CNTG_QTY": "0"}))
    _apply_both([first, burst], a, b, spy, monkeypatch)
    assert [answer is not None for answer in spy] == [True, False]
    kinds = {e.kind for e in a.ledger.events_since(0)}
    assert {"duplicate_in_burst": "order.fill", "known_key": "order.fill", "unknown_order": "external.recorded",
            "overfill": "order.overfill_flagged", "acknowledgement": "order.fill"}[odd] in kinds


def test_a_burst_whose_write_fails_leaves_none_of_it_and_goes_one_by_one(twins, spy, monkeypatch):
    placed, a, b = twins
    real = fillrows.write_journal

    def write_then_fail(conn, built):
        real(conn, built)  # the fills, the orders, the events and the audit rows are written: all must be undone
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(fillrows, "write_journal", write_then_fail)
    burst = [_fill(o, s) for s in range(2) for o in placed]
    Watcher(a).apply_notices(burst)
    monkeypatch.undo()
    with monkeypatch.context() as m:
        m.setattr(watch_module, "apply_fills", lambda rt, notices: None)
        Watcher(b).apply_notices(burst)
    assert _tables(a.ledger) == _tables(b.ledger)
    assert all(a.ledger.get(o.id).filled_qty == 2 for o in placed)
    assert a.ledger.verify_audit_chain() > 0


def test_nothing_of_a_burst_of_plain_fills_is_visible_before_its_commit(twins, spy, monkeypatch):
    placed, a, _ = twins
    other = Ledger(a.ledger.path)
    seen: list[int] = []
    real = fillrows.write_journal  # (the burst's last write: its events and audit rows)

    def write_and_look(conn, built):
        real(conn, built)
        seen.append(other.get(placed[0].id).filled_qty)

    monkeypatch.setattr(fillrows, "write_journal", write_and_look)
    try:
        Watcher(a).apply_notices([_fill(o, 1) for o in placed])
        assert seen == [0] and spy[0] is not None
        assert other.get(placed[0].id).filled_qty == 1
    finally:
        other.close()


def _ack(order) -> ExecutionNotice:
    """An acknowledgement (CNTG_YN=1) for ``order``: not a fill, so never part of a burst written at once."""
    return ExecutionNotice(fields={**_fill(order, 59).fields, "CNTG_YN": "1", "CNTG_QTY": "0"})


@pytest.mark.parametrize("second_run", ["plain", "with_unknown_order"])
def test_long_runs_of_fills_among_other_notices_are_written_at_once_with_the_rows_of_the_one_by_one_path(
        twins, spy, monkeypatch, second_run):
    """A burst with an acknowledgement, a garbled fill (published as unapplied) and a fill of an unknown
    order (an external order) among its fills: each run of ``MIN_RUN`` fills or more goes at once when it
    is plain, everything else one by one, in notice order, in one transaction: the same ledger, row for
    row, as the one-by-one path."""
    placed, a, b = twins
    assert watch_module.MIN_RUN <= 9
    first = [_fill(o, s) for s in range(3) for o in placed]  # 9 plain fills
    second = [_fill(o, 10 + s, price=59000 + s) for s in range(3) for o in placed]  # 9 more
    if second_run == "with_unknown_order":
        second.insert(4, _fill(placed[1], 19, odno="0009999999"))
    garbled = ExecutionNotice(fields={**_fill(placed[2], 30).fields, "CNTG_QTY": "0"})
    short = [_fill(o, 40) for o in placed]  # a run too short to go at once
    burst = [_ack(placed[0]), *first, _ack(placed[1]), *second, garbled, *short]
    _apply_both([burst], a, b, spy, monkeypatch)
    # the whole burst is refused at once, then run by run: the first goes; the second unless it has an
    # order that is not ours; the short run and the other notices one by one
    assert [answer is not None for answer in spy] == [False, True, second_run == "plain"]
    kinds = [e.kind for e in a.ledger.events_since(0)]
    assert kinds.count("order.fill") == 21 and "notice.unapplied" in kinds
    assert ("external.recorded" in kinds) == (second_run == "with_unknown_order")
    assert [a.ledger.get(o.id).filled_qty for o in placed] == [7, 7, 7]


def test_a_failure_after_a_run_before_the_commit_keeps_none_of_the_burst(twins, spy, monkeypatch):
    """Runs written at once are inside the burst's one transaction: a failure after the first run and
    before the commit (the crash point's place) leaves nothing of the burst."""
    placed, a, _ = twins
    burst = [*(_fill(o, s) for s in range(3) for o in placed), _ack(placed[0]),
             *(_fill(o, 10 + s) for s in range(3) for o in placed)]
    calls: list[str] = []

    def fail_on_second(name):
        calls.append(name)
        if name == "watch_in_fill_batch" and calls.count(name) == 2:
            raise RuntimeError("killed")

    monkeypatch.setattr(watch_module, "crash_point", fail_on_second)
    before = _tables(a.ledger)
    Watcher(a).apply_notices(burst)  # (the batch does not commit: published as unapplied, on its own)
    after = _tables(a.ledger)
    assert calls.count("watch_in_fill_batch") == 2
    assert after["fills"] == before["fills"] and after["orders"] == before["orders"]
    assert [e.kind for e in a.ledger.events_since(0)][-1] == "notice.unapplied"


def test_a_burst_is_written_with_the_cycle_collector_off_and_it_is_back_on_after(twins, spy, monkeypatch):
    placed, a, _ = twins
    collecting: list[bool] = []
    real = fillrows.write_journal

    def write_and_look(conn, built):
        collecting.append(gc.isenabled())
        real(conn, built)

    monkeypatch.setattr(fillrows, "write_journal", write_and_look)
    assert gc.isenabled()
    Watcher(a).apply_notices([_fill(o, 1) for o in placed])
    assert collecting == [False] and gc.isenabled()
    def fail(conn, built):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(fillrows, "write_journal", fail)
    Watcher(a).apply_notices([_fill(o, 2) for o in placed])  # (the burst fails and goes one by one)
    assert gc.isenabled() and all(a.ledger.get(o.id).filled_qty == 2 for o in placed)
