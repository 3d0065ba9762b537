"""Several processes at once: one order per key, one claim per order."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_helpers import make_order

from kisoms.ledger import Ledger

WORKER = Path(__file__).with_name("ledger_race_worker.py")
N = 8


def race(mode: str, path: Path, signals: Path, order_id: int = 0) -> list[dict]:
    """Start N workers, wait until all are ready, fire, and collect their JSON answers."""
    signals.mkdir()
    procs = [subprocess.Popen([sys.executable, str(WORKER), mode, str(path), str(signals), f"p{i}", str(order_id)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(N)]
    deadline = time.monotonic() + 30
    while len(list(signals.glob("ready-*"))) < N:
        if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            pytest.fail("workers did not start: " + " ".join(p.communicate()[1] for p in procs))
        time.sleep(0.01)
    (signals / "go").touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_eight_processes_create_the_same_intent_once(path, tmp_path):
    Ledger(path).close()
    results = race("create", path, tmp_path / "sig")
    assert sum(r["created"] for r in results) == 1
    with Ledger(path) as ledger:
        orders = ledger.list_orders()
        assert len(orders) == 1
        assert {r["id"] for r in results} == {orders[0].id}
        assert [e.kind for e in ledger.events_since(0)] == ["order.created"]
        assert len(ledger.history(orders[0].id)) == 1


def test_eight_processes_open_a_fresh_file_and_create_once(path, tmp_path):
    results = race("fresh", path, tmp_path / "sig")
    assert sum(r["created"] for r in results) == 1
    assert len({r["id"] for r in results}) == 1
    with Ledger(path) as ledger:
        assert len(ledger.list_orders()) == 1
        assert ledger.verify_audit_chain() == 1


def test_eight_processes_claim_the_same_order_once(path, tmp_path):
    with Ledger(path) as ledger:
        order, _ = ledger.create(make_order(), source="test")
    results = race("claim", path, tmp_path / "sig", order.id)
    winners = [r for r in results if r["won"]]
    assert len(winners) == 1
    with Ledger(path) as ledger:
        assert ledger.get(order.id).status.value == "SENDING"
        numbers = ledger.broker_numbers(order.id)
        assert [n.id for n in numbers] == [winners[0]["map_id"]]
        assert [h.event for h in ledger.history(order.id)] == ["created", "claim"]
        assert ledger.verify_audit_chain() == 2


def test_eight_processes_claiming_same_terms_orders_send_one(path, tmp_path):
    """Eight strategies, eight keys, one set of terms: only one may be in flight, or a lookup after an
    ambiguous send could not tell them apart. The losers are refused inside the claim transaction."""
    Ledger(path).close()
    results = race("twin", path, tmp_path / "sig")
    assert sum(r["won"] for r in results) == 1
    assert sum(r["twin"] for r in results) == N - 1
    with Ledger(path) as ledger:
        statuses = sorted(o.status.value for o in ledger.list_orders())
        assert statuses == ["NEW"] * (N - 1) + ["SENDING"]
        assert len(ledger.open_requests()) == 1
