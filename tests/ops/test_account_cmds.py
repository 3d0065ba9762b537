"""`kisoms positions`, `fills` and `export` as a trader runs them: real processes against the simulator."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import kisoms
from engine_helpers import intent, write_config
from kisoms.engine.reconcile import reconcile
from test_processes import kisoms as run


def _trade_a_day(sim, config) -> str:
    """Buy 10 (fill 10 at 70000), buy 5 (fill 2), sell 3 of what is held (fill 3). Returns the KST date."""
    with kisoms.connect(config) as oms:
        buy = oms.submit(intent(1, qty=10))
        sim.admin.fill(buy.order.broker_order_no, 10, 70000)
        part = oms.submit(intent(2, qty=5, price=69000))
        sim.admin.fill(part.order.broker_order_no, 2, 69000)
        reconcile(oms.runtime)
        sell = oms.submit(intent(3, side="sell", qty=3, price=71000))
        sim.admin.fill(sell.order.broker_order_no, 3, 71000)
        reconcile(oms.runtime)
        return oms.trade(buy.id).order.order_date


def test_positions_show_holdings_cash_and_buying_power(sim, tmp_path):
    config = write_config(sim, tmp_path)
    with kisoms.connect(config) as oms:
        before = {h.symbol: h.qty for h in oms.positions().holdings}.get("005930", 0)
    _trade_a_day(sim, config)
    out = run(config, "--json", "positions")
    assert out.returncode == 0, out.stderr
    balance = json.loads(out.stdout)
    held = {h["symbol"]: h for h in balance["holdings"]}
    assert held["005930"]["qty"] == held["005930"]["orderable_qty"] == before + 9
    assert balance["cash"] > 0 and balance["buying_power"] > 0
    human = run(config, "positions")
    assert human.returncode == 0 and "005930" in human.stdout and "buying power" in human.stdout


def test_fills_of_the_day_with_per_symbol_averages(sim, tmp_path):
    config = write_config(sim, tmp_path)
    day = _trade_a_day(sim, config)
    rows = [json.loads(x) for x in run(config, "--json", "fills", "--date", day).stdout.splitlines()]
    assert sorted((r["side"], r["qty"], r["price"]) for r in rows) == [("buy", 2, 69000), ("buy", 10, 70000),
                                                                         ("sell", 3, 71000)]
    assert all(r["amount"] == r["qty"] * r["price"] and r["source"] in ("notice", "inquiry", "reconcile")
               for r in rows)
    [summary] = [json.loads(x) for x in run(config, "--json", "fills", "--date", day, "--summary").stdout.splitlines()]
    assert summary["net_qty"] == 9 and summary["avg_buy_price"] == (10 * 70000 + 2 * 69000) / 12
    assert summary["avg_sell_price"] == 71000
    assert run(config, "--json", "fills", "--date", day, "--symbol", "000660").stdout == ""
    human = run(config, "fills", "--date", day)
    assert human.returncode == 0 and "By symbol" in human.stdout


def test_export_orders_and_fills_as_csv_and_jsonl(sim, tmp_path):
    config = write_config(sim, tmp_path)
    day = _trade_a_day(sim, config)
    orders = run(config, "export", "orders", "--from", day, "--to", day, "--format", "csv")
    assert orders.returncode == 0, orders.stderr
    table = list(csv.DictReader(io.StringIO(orders.stdout)))
    assert [r["side"] for r in table] == ["buy", "buy", "sell"] and table[0]["status"] == "FILLED"
    target = tmp_path / "fills.jsonl"
    done = run(config, "export", "fills", "--from", day, "--to", day, "--format", "jsonl", "--output", str(target))
    assert done.returncode == 0 and stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert len(target.read_text().splitlines()) == 3
    assert run(config, "export", "fills", "--from", "19990101", "--to", "19990102").stdout.count("\n") == 1


def test_bad_dates_and_kinds_are_usage_errors(sim, tmp_path):
    config = write_config(sim, tmp_path)
    for args in (["fills", "--date", "tomorrow"], ["export", "trades", "--from", "2026-11-25", "--to", "2026-11-25"],
                 ["export", "orders", "--from", "2026-11-25", "--to", "2026-11-24"],
                 ["export", "orders", "--from", "2026-11-25", "--to", "2026-11-25", "--format", "xml"]):
        out = run(config, *args)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (args, out.stderr)
