"""Ledger throughput: the full write path of one order (create, claim, accept, two fills) on a real file.

Prints orders/s, µs per state change, peak Python memory, and the ratio of a transition's cost to a bare
SQLite INSERT+COMMIT on the same disk (how much the history/audit/event bookkeeping costs).
Run: python bench/bench_ledger.py [N]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.order import Fill, Order
from kisoms.domain.states import OrderEvent
from kisoms.ledger import Ledger

T0 = datetime(2026, 11, 25, tzinfo=timezone.utc)


def _order(i: int) -> Order:
    return Order(id=0, idempotency_key=f"bench-{i}", account="50000001-01", strategy_version="bench",
                 symbol="005930", side=Side.BUY, order_type=OrderType.LIMIT, qty=10, price=70000,
                 exchange=Exchange.KRX, signal_ts=T0 + timedelta(seconds=i))


def one_order(ledger: Ledger, i: int) -> int:
    order, _ = ledger.create(_order(i), source="bench")
    order, map_id = ledger.claim(order.id, event=OrderEvent.CLAIM, kind="new", request={}, tr_id="x",
                                 source="bench")
    ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                  source="bench", map_fields={"broker_order_no": f"{i:010d}", "order_date": "20261125"},
                  order_fields={"broker_order_no": f"{i:010d}", "order_date": "20261125"})
    for n in range(2):
        ledger.record_fill(order.id, Fill(order.id, f"{i:010d}", 5, 70000, f"0900{n:02d}", "bench", f"b{i}-{n}"))
    return 5  # state changes per order


def bare_sqlite(path: Path, n: int) -> float:
    """Seconds per INSERT+COMMIT on this disk with the ledger's pragmas (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
        conn.execute("COMMIT")
    conn.close()
    return (time.perf_counter() - start) / n


def main(n: int = 500) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tracemalloc.start()
        ledger = Ledger(Path(tmp) / "bench.db")
        start = time.perf_counter()
        changes = sum(one_order(ledger, i) for i in range(n))
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows = ledger.verify_audit_chain()
        ledger.close()
        bare = bare_sqlite(Path(tmp) / "bare.db", changes)
    per_change = elapsed / changes
    print(f"orders: {n}  state changes: {changes}  audit rows verified: {rows}")
    print(f"orders/s: {n / elapsed:,.0f}   µs per state change: {per_change * 1e6:,.0f}")
    print(f"bare INSERT+COMMIT µs: {bare * 1e6:,.0f}   ratio (ledger change / bare commit): {per_change / bare:.2f}")
    print(f"peak Python memory: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
