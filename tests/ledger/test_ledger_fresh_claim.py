"""The settle of a claim this Ledger object wrote (``requests.FreshClaim``): it reads neither the request nor
the order back while both are as the claim left them, and writes exactly what a settle that reads them writes;
anything that touched either since sends it down the reading path."""

from __future__ import annotations

import sqlite3
from datetime import timedelta, timezone

import pytest
from ledger_helpers import SIGNAL_TS, FakeClock, make_order

from kisoms.domain.states import OrderEvent, OrderStatus, Quantities
from kisoms.errors import InvalidTransition
from kisoms.ledger import Ledger

DAY = "20261125"
KST = timezone(timedelta(hours=9))
NUMBER = {"broker_order_no": "0000777", "krx_orgno": "91252", "order_date": DAY}
REPLY = {"rt_cd": "0", "msg_cd": "APBK0013", "output": {"ODNO": "0000777"}}


def _claim(ledger: Ledger):
    order = make_order(signal_ts=SIGNAL_TS.astimezone(KST))  # (a zone the ledger reads back as UTC)
    order, _, map_id = ledger.create_and_claim(order, source="submit", request={"qty": 10}, tr_id="TTTC0012U")
    return order, map_id


def _settle(ledger: Ledger, order, map_id: int):
    return ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                         source="submit", raw_payload=REPLY, map_fields=NUMBER, order_fields=NUMBER)


def _tables(path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                for table in ("orders", "broker_order_map", "events", "audit_log")}
    finally:
        conn.close()


def test_a_settle_of_its_own_claim_writes_what_a_reading_settle_writes(tmp_path):
    fresh_path, read_path = tmp_path / "fresh.db", tmp_path / "read.db"
    with Ledger(fresh_path, now=FakeClock()) as ledger:
        order, map_id = _claim(ledger)
        assert map_id in ledger._claims
        fresh = _settle(ledger, order, map_id)
        assert map_id not in ledger._claims  # used once
    clock = FakeClock()
    with Ledger(read_path, now=clock) as claimer:
        order, map_id = _claim(claimer)
    with Ledger(read_path, now=clock) as other:  # another object: it knows no claim, so it reads both back
        assert not other._claims
        read = _settle(other, order, map_id)
        reread = other.get(order.id)
    assert _tables(fresh_path) == _tables(read_path)
    assert fresh == read == reread and fresh.status is OrderStatus.SENT
    assert fresh.signal_ts.isoformat() == read.signal_ts.isoformat() == reread.signal_ts.isoformat()
    assert fresh.tags == read.tags and type(fresh.tags) is dict


def test_a_request_released_since_its_claim_is_settled_from_what_is_stored(ledger):
    order, map_id = _claim(ledger)
    with Ledger(ledger.path) as other:
        assert other.release_request(map_id)  # (its owner column cleared: a released claim keeps NULL)
    _settle(ledger, order, map_id)
    [request] = ledger.broker_numbers(order.id)
    assert request.state == "accepted" and request.owner is None


def test_an_order_moved_since_its_claim_is_settled_as_it_is_now(ledger):
    order, map_id = _claim(ledger)
    with Ledger(ledger.path) as other:  # broker truth recorded by another process meanwhile
        other.correct(order.id, OrderStatus.ACCEPTED, source="reconcile", raw_payload={},
                      quantities=Quantities(10, 0, 0), filled_amount=0, **NUMBER)
    with pytest.raises(InvalidTransition):  # judged on the order as it is, not as the claim left it
        _settle(ledger, order, map_id)
    assert ledger.get(order.id).status is OrderStatus.ACCEPTED
    assert [r.state for r in ledger.open_requests(order.id)] == ["sending"]


def test_a_claim_inside_a_batch_is_not_kept(ledger):
    with ledger.batch():
        order, _, map_id = ledger.create_and_claim(make_order(), source="submit", request={}, tr_id="x")
    assert map_id is not None and not ledger._claims
    _settle(ledger, order, map_id)
    assert ledger.get(order.id).status is OrderStatus.SENT


def test_an_owner_its_claim_event_names_only_redacted_is_kept_on_the_request(tmp_path):
    """A settled request drops its owner only where its claim event names the same owner; an owner tag that
    redaction had to mask in the event stays on the request, on both paths alike."""
    owner = "host:42 Bearer abcdefgh12345678"
    fresh_path, read_path = tmp_path / "fresh.db", tmp_path / "read.db"
    with Ledger(fresh_path, now=FakeClock(), owner=owner) as ledger:
        order, map_id = _claim(ledger)
        _settle(ledger, order, map_id)
        [fresh] = ledger.broker_numbers(order.id)
    clock = FakeClock()
    with Ledger(read_path, now=clock, owner=owner) as claimer:
        order, map_id = _claim(claimer)
    with Ledger(read_path, now=clock) as other:
        _settle(other, order, map_id)
        [read] = other.broker_numbers(order.id)
    assert _tables(fresh_path) == _tables(read_path)
    assert fresh.owner == read.owner == owner
