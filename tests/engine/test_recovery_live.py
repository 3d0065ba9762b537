"""Issue 5 end to end: kill -9 of watch, crashes inside modify/cancel, a simulator restart with its state
file, `reconcile` as cron sees it (dry run, exit codes, idempotence, external orders) and `--since`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from engine_helpers import ACCOUNT, broker_orders, intent, make_settings, write_config
from kisoms.config import load_settings
from kisoms.domain.order import Fill
from kisoms.domain.states import OrderStatus
from kisoms.engine.amend import cancel
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.engine.watch import Watcher
from kisoms.sim.testing import running_simulator
from test_processes import kisoms
from test_watch import _until, watch_process

pytestmark = pytest.mark.dates(session_only=True)  # order flows: at the in-session anchors of tests/clocks.py

RECONCILE_CORRECTED, UNKNOWN_OR_HALTED = 7, 5


def books(sim, odno: str) -> dict:
    return next(r for r in sim.admin.orders(ACCOUNT) if r["odno"] == odno)


def assert_ledger_equals_books(rt, sim) -> None:
    for order in rt.ledger.list_orders():
        row = books(sim, order.broker_order_no)
        assert (order.filled_qty, order.filled_amount) == (int(row["tot_ccld_qty"]), int(row["tot_ccld_amt"]))


def watch_until_filled(config, order_id: int) -> None:
    """A (re)started `kisoms watch` until it shows the order FILLED, then stopped cleanly."""
    proc, reader = watch_process(config)
    try:
        reader.wait_for(lambda e: e.get("order_id") == order_id and e["payload"].get("status") == "FILLED")
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def test_kill_9_of_watch_after_a_notice_then_restart_and_reconcile(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    proc, reader = watch_process(config, env={"KISOMS_CRASH_AT": "watch_after_notice"})
    reader.wait_for(lambda e: e["kind"] == "connection.connected")
    order = submit(rt, intent(price=70000)).order
    assert proc.wait(timeout=20) == 137  # died right after applying the acceptance notice
    sim.admin.set_price("005930", 70000)  # filled while nobody listens
    watch_until_filled(config, order.id)
    assert reconcile(rt).in_sync
    assert len(broker_orders(sim)) == 1
    assert_ledger_equals_books(rt, sim)


def test_kill_9_of_watch_inside_a_burst_of_fills_keeps_none_of_it_and_a_restart_records_each_once(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    proc, reader = watch_process(config, env={"KISOMS_CRASH_AT": "watch_in_fill_batch"})
    reader.wait_for(lambda e: e["kind"] == "connection.connected")
    order = submit(rt, intent(price=70000)).order
    reader.wait_for(lambda e: e.get("order_id") == order.id and e["payload"].get("status") == "ACCEPTED")
    sim.admin.set_price("005930", 70000)  # the fill notice alone: a burst the batch path writes at once
    assert proc.wait(timeout=20) == 137  # died with the burst written and not committed
    assert rt.ledger.get(order.id).filled_qty == 0 and rt.ledger.fills(order.id) == []
    assert rt.ledger.verify_audit_chain() > 0
    watch_until_filled(config, order.id)
    assert sum(f.qty for f in rt.ledger.fills(order.id)) == 10  # each execution once
    assert reconcile(rt).in_sync
    assert_ledger_equals_books(rt, sim)
    rt.ledger.verify_audit_chain()


@pytest.mark.parametrize("point,args", [("after_modify_claim", ["modify", "{id}", "--price", "69500"]),
                                        ("after_cancel_claim", ["cancel", "{id}"])])
def test_crash_inside_modify_or_cancel_leaves_a_state_reconcile_finishes(sim, tmp_path, rt, point, args):
    config = write_config(sim, tmp_path)
    order = submit(rt, intent(price=69000)).order
    crashed = kisoms(config, *[a.format(id=order.id) for a in args], env={"KISOMS_CRASH_AT": point})
    assert crashed.returncode == 137, crashed.stderr
    assert rt.ledger.get(order.id).status in (OrderStatus.PENDING_MODIFY, OrderStatus.PENDING_CANCEL)
    now = rt.clock.now
    rt.clock.now = lambda: now() + timedelta(seconds=60)  # the crashed process's lease has run out
    report = reconcile(rt)
    after = rt.ledger.get(order.id)
    assert after.status in (OrderStatus.SENT, OrderStatus.ACCEPTED), report
    assert rt.ledger.halt_state() is None
    assert len(sim.admin.orders(ACCOUNT)) == 1  # the claimed change never left: nothing at the broker
    cancel(rt, order.id)  # and the order is workable again
    assert rt.ledger.get(order.id).status is OrderStatus.CANCELLED


def test_simulator_restart_with_state_file_mid_fills(tmp_path):
    state = tmp_path / "sim-state.json"
    with running_simulator(state_file=state) as first:
        ports = (int(first.rest_url.rsplit(":", 1)[1]), int(first.ws_url.rsplit(":", 1)[1]))
        settings = make_settings(first, tmp_path)
        with open_runtime(settings) as rt:
            orders = [submit(rt, intent(n, price=69000 + 100 * n)).order for n in range(3)]
            first.admin.fill(orders[0].broker_order_no, 4)
            reconcile(rt)
    with running_simulator(state_file=state, port=ports[0], ws_port=ports[1]) as second:
        with open_runtime(settings) as rt:
            async def run():
                stop = asyncio.Event()
                watcher = Watcher(rt)
                task = asyncio.create_task(watcher.run(stop))
                await _until(lambda: watcher.status.mode == "connected")
                second.admin.fill(orders[0].broker_order_no, 6)
                second.admin.fill(orders[1].broker_order_no, 3)
                await _until(lambda: rt.ledger.get(orders[1].id).filled_qty == 3)
                await _until(lambda: rt.ledger.get(orders[0].id).status is OrderStatus.FILLED)
                stop.set()
                await task

            asyncio.run(run())
            assert reconcile(rt).in_sync
            assert_ledger_equals_books(rt, second)
            assert rt.ledger.get(orders[0].id).filled_qty == 10


def test_reconcile_for_cron_dry_run_exit_codes_and_idempotence(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    order = submit(rt, intent(price=70000)).order
    sim.admin.set_price("005930", 70000)
    events_before = rt.ledger.last_event_id()
    dry = kisoms(config, "--json", "reconcile", "--dry-run")
    assert dry.returncode == RECONCILE_CORRECTED, dry.stderr
    assert json.loads(dry.stdout)["changes"][0]["after"] == "FILLED"
    assert rt.ledger.get(order.id).status is not OrderStatus.FILLED
    assert rt.ledger.last_event_id() == events_before  # a dry run writes nothing
    real = kisoms(config, "--json", "reconcile")
    assert real.returncode == RECONCILE_CORRECTED and rt.ledger.get(order.id).status is OrderStatus.FILLED
    again = kisoms(config, "--json", "reconcile")
    assert again.returncode == 0 and json.loads(again.stdout)["in_sync"] is True


def test_orders_kisoms_did_not_place_are_reported_once(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    other = make_settings(sim, tmp_path, ledger=str(tmp_path / "someone-else.db"))
    with open_runtime(other) as hts:  # a trader typing in the broker's own app
        foreign = submit(hts, intent(99, qty=3, price=68000)).order
    first = kisoms(config, "--json", "reconcile")
    assert first.returncode == RECONCILE_CORRECTED, first.stderr
    [ext] = json.loads(first.stdout)["external"]
    assert (ext["odno"], ext["qty"]) == (foreign.broker_order_no, 3)
    assert kisoms(config, "reconcile").returncode == 0
    assert [e["broker_order_no"] for e in rt.ledger.external_orders()] == [foreign.broker_order_no]


def test_an_unfixable_discrepancy_halts_and_sending_stops(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    order = submit(rt, intent(price=69000)).order
    rt.ledger.record_fill(order.id, Fill(order_id=order.id, broker_order_no=order.broker_order_no, qty=4,
                                         price=69000, fill_time="100000", source="notice", dedupe_key="t:1"))
    result = kisoms(config, "reconcile")
    assert result.returncode == UNKNOWN_OR_HALTED, result.stderr
    assert "less than ledger" in result.stdout + result.stderr
    blocked = kisoms(config, "submit", "--intent", "-", stdin=json.dumps(
        {"account": ACCOUNT, "strategy_version": "s", "symbol": "005930", "side": "buy", "order_type": "limit",
         "qty": 1, "price": 69000, "signal_ts": "2026-11-25T09:00:00+09:00"}))
    assert blocked.returncode == UNKNOWN_OR_HALTED and "halt" in blocked.stderr.lower()
    assert len(broker_orders(sim)) == 1


def test_events_since_resumes_without_gaps(sim, tmp_path, rt):
    config = write_config(sim, tmp_path)
    for n in range(3):
        submit(rt, intent(n, price=69000))
    last = rt.ledger.last_event_id()
    mark = last // 2
    listed = kisoms(config, "events", "--since", str(mark))
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert ids == list(range(mark + 1, last + 1))
    proc, reader = watch_process(config, "--since", str(mark))
    try:
        replayed = [reader.wait_for(lambda e: True)["id"] for _ in range(last - mark)]
        assert replayed == list(range(mark + 1, last + 1))
        submit(rt, intent(7, price=69000))
        live = reader.wait_for(lambda e: e["kind"] == "order.created")
        assert live["id"] > last
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize("halted", [False, True])
def test_a_crashed_claim_under_the_resend_policy_is_sent_once_unless_halted(sim, tmp_path, halted):
    config = write_config(sim, tmp_path, ambiguity={"policy": "resend", "lookup_window": 0.3})
    crashed = kisoms(config, "submit", "--intent", "-", stdin=json.dumps(
        {"account": ACCOUNT, "strategy_version": "s", "symbol": "005930", "side": "buy", "order_type": "limit",
         "qty": 1, "price": 69000, "signal_ts": "2026-11-25T09:00:00+09:00"}), env={"KISOMS_CRASH_AT": "after_claim"})
    assert crashed.returncode == 137
    with open_runtime(load_settings(config)) as rt:
        if halted:
            rt.ledger.set_halt("by hand", source="test")
        now = rt.clock.now
        rt.clock.now = lambda: now() + timedelta(seconds=60)
        report = reconcile(rt)
        [order] = rt.ledger.list_orders()
        if halted:
            assert order.status is OrderStatus.UNKNOWN and report.unresolved and broker_orders(sim) == []
            assert rt.ledger.open_requests(order.id)  # still there for the next run to settle
        else:
            assert order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED), report
            assert [r["odno"] for r in broker_orders(sim)] == [order.broker_order_no]
            assert reconcile(rt).in_sync
