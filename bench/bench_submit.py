"""End-to-end submit against the simulator over loopback: intent → validate → claim → order-cash → SENT.

Prints orders/s, latency percentiles of one submit, the share of a submit spent outside the broker round
trip (a bare httpx POST to order-cash on the same simulator is the baseline: ratio = submit / bare POST),
and the cost of a `reconcile` pass over every order. The simulator's rate limit and the client's are
raised so the figures measure kisoms, not KIS's 20 requests per second.
Run: python bench/bench_submit.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from kisoms.config import Settings
from kisoms.domain.intent import parse_intent
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.sim.testing import running_simulator

ACCOUNT = "50000001-01"
T0 = datetime(2026, 11, 25, tzinfo=timezone.utc)
RATE = 100_000


def _settings(sim, tmp: Path) -> Settings:
    return Settings.model_validate({
        "env": "sim", "rest_url": sim.rest_url, "ws_url": sim.ws_url, "hts_id": "simuser", "rate_per_sec": RATE,
        "state_dir": str(tmp / "state"), "ledger": str(tmp / "ledger.db"), "accounts": {ACCOUNT: {}}})


def _intent(i: int):
    return parse_intent({"account": ACCOUNT, "strategy_version": "bench", "symbol": "005930", "side": "buy",
                         "order_type": "limit", "qty": 1, "price": 60000,
                         "signal_ts": (T0 + timedelta(seconds=i)).isoformat()})


def bare_posts(sim, token: str, n: int) -> float:
    """Seconds per raw order-cash POST (no kisoms code at all)."""
    headers = {"authorization": f"Bearer {token}", "appkey": sim.scenario.app_keys[0].app_key,
               "appsecret": sim.scenario.app_keys[0].app_secret, "tr_id": "TTTC0012U", "custtype": "P"}
    body = {"CANO": "50000001", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "00", "ORD_QTY": "1",
            "ORD_UNPR": "60000", "EXCG_ID_DVSN_CD": "KRX"}
    with httpx.Client(base_url=sim.rest_url) as http:
        start = time.perf_counter()
        for _ in range(n):
            http.post("/uapi/domestic-stock/v1/trading/order-cash", json=body, headers=headers).raise_for_status()
        return (time.perf_counter() - start) / n


def main(n: int = 300) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_simulator(rate_limit_per_sec=RATE) as sim:
        with open_runtime(_settings(sim, Path(tmp))) as rt:
            submit(rt, _intent(-1))  # token, connection, first quote
            tracemalloc.start()
            latencies = []
            start = time.perf_counter()
            for i in range(n):
                t = time.perf_counter()
                submit(rt, _intent(i))
                latencies.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            t = time.perf_counter()
            report = reconcile(rt)
            reconcile_s = time.perf_counter() - t
            bare = bare_posts(sim, rt.client.token(), n)
    q = statistics.quantiles(latencies, n=100)
    print(f"submit end to end: {n} orders in {elapsed:.2f} s = {n / elapsed:.0f} orders/s")
    print(f"latency: p50 {q[49] * 1e3:.2f} ms, p95 {q[94] * 1e3:.2f} ms, p99 {q[98] * 1e3:.2f} ms")
    print(f"bare order-cash POST: {bare * 1e3:.2f} ms; ratio submit/bare = {statistics.median(latencies) / bare:.1f}x")
    print(f"reconcile over {report.checked} orders: {reconcile_s * 1e3:.0f} ms ({'in sync' if report.in_sync else 'changed'})")
    print(f"peak traced Python memory during submits: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
