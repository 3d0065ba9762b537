"""Real processes: concurrent submits of one intent, and kill -9 style crashes at named points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine_helpers import ACCOUNT, broker_orders, inject, write_config
from kisoms.domain.states import OrderStatus
from kisoms.engine.reconcile import reconcile
from kisoms.engine.runtime import open_runtime
from kisoms.config import load_settings

INTENT = {"account": ACCOUNT, "strategy_version": "proc-1", "symbol": "005930", "side": "buy",
          "order_type": "limit", "qty": 5, "price": 70000, "signal_ts": "2026-11-25T09:00:00+09:00"}


def kisoms(config, *args, env=None, stdin=None, timeout=60):
    full_env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **(env or {})}
    return subprocess.run([sys.executable, "-m", "kisoms", "--config", str(config), *args], input=stdin,
                          capture_output=True, text=True, env=full_env, timeout=timeout)


def test_eight_concurrent_submits_of_one_intent_make_one_broker_order(sim, tmp_path):
    config = write_config(sim, tmp_path)
    line = json.dumps(INTENT)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: kisoms(config, "--json", "submit", "--intent", "-", stdin=line), range(8)))
    ids = {json.loads(r.stdout.strip().splitlines()[-1])["id"] for r in results if r.stdout.strip()}
    assert len(ids) == 1, [r.stderr for r in results]
    assert len(broker_orders(sim)) == 1
    with open_runtime(load_settings(config)) as rt:
        reconcile(rt)
        order = rt.ledger.get(ids.pop())
        assert order.broker_order_no == broker_orders(sim)[0]["odno"]


@pytest.mark.parametrize("point,expected_at_broker", [
    ("after_create", 0), ("after_claim", 0), ("after_send", 1), ("after_ambiguous", 1),
])
def test_crash_then_reconcile_agrees_with_the_broker(sim, tmp_path, point, expected_at_broker):
    config = write_config(sim, tmp_path, ambiguity={"lookup_window": 0.5}, retry={"deadline": 1.0, "read_timeout": 1.0})
    if point == "after_ambiguous":
        inject(sim, "drop_response", seconds=2)
    crashed = kisoms(config, "submit", "--intent", "-", stdin=json.dumps(INTENT), env={"KISOMS_CRASH_AT": point})
    assert crashed.returncode == 137, crashed.stderr
    assert len(broker_orders(sim)) == expected_at_broker
    import time
    time.sleep(0)  # nothing to await: the lease is judged by the claim time
    settings = load_settings(config)
    with open_runtime(settings) as rt:
        rt.clock.now = _later(rt.clock.now, 60)  # the crashed process's lease has run out
        report = reconcile(rt)
        order = rt.ledger.list_orders()[0]
    if expected_at_broker:
        assert order.broker_order_no == broker_orders(sim)[0]["odno"]
        assert order.status in (OrderStatus.SENT, OrderStatus.ACCEPTED)
    elif point == "after_create":
        assert order.status is OrderStatus.NEW  # never claimed: a later submit sends it
        again = kisoms(config, "submit", "--intent", "-", stdin=json.dumps(INTENT))
        assert again.returncode == 0, again.stderr
        assert len(broker_orders(sim)) == 1
    else:
        assert order.status is OrderStatus.UNKNOWN and report.unresolved  # documented halt, nothing resent
        assert len(broker_orders(sim)) == 0


def _later(now, seconds):
    from datetime import timedelta

    return lambda: now() + timedelta(seconds=seconds)
