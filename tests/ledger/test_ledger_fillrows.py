"""The fill-specific row builder (``fillrows``) writes, byte for byte, the rows the generic change path
(``orders.write`` -> ``journal.record``, which ``record_fill`` takes one fill at a time) writes: every table
compared whole (ids, texts, hashes, ``sqlite_sequence``) for varied bursts, and each piece of the builder
pinned against the generic function it stands for."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from ledger_helpers import SIGNAL_TS, FakeClock, make_order

from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent, OrderStatus, Quantities, next_status
from kisoms.errors import InvalidTransition
from kisoms.ledger import Ledger, db, fillrows, journal, orders as ledger_orders
from kisoms.ledger.records import FILL_KIND, changed_columns, dense_event, revised

FIXED = datetime(2026, 11, 25, 1, 2, 3, 456789, tzinfo=timezone.utc)
NUMBERS = ["0000000101", "0000000102", "0000000103", "0000000104", "0000000105"]


def _setup(ledger: Ledger) -> list:
    """Five working orders of 10: SENT, ACCEPTED, PART_FILLED (3 at 70,000), PART_FILLED with 2 filled and
    3 cancelled, ACCEPTED of 1,000,000 shares."""
    orders = []
    for i, number in enumerate(NUMBERS):
        qty = 1_000_000 if i == 4 else 10
        order, _ = ledger.create(make_order(qty=qty, signal_ts=SIGNAL_TS + timedelta(seconds=i)), source="t")
        order, map_id = ledger.claim(order.id, request={"qty": qty}, tr_id="order-cash", source="t")
        mapped = {"broker_order_no": number, "krx_orgno": "91252", "order_date": "20261125"}
        order = ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                              source="t", map_fields=mapped, order_fields=mapped)
        if i in (1, 4):
            order = ledger.transition(order.id, OrderEvent.ACKNOWLEDGED, source="t")
        if i == 2:
            order = ledger.record_fill(order.id, Fill(order.id, number, 3, 70000, "090000", "notice",
                                                      f"n:20261125:{number}:090000:3:70000"))
        if i == 3:
            order = ledger.correct(order.id, OrderStatus.PART_FILLED, source="reconcile", raw_payload=None,
                                   quantities=Quantities(10, 2, 3), filled_amount=139000,
                                   expected_version=order.version)
        orders.append(order)
    return orders


def _fill(order, time: str, qty: int, price: int, source: str = "notice") -> Fill:
    number = order.broker_order_no
    return Fill(order.id, number, qty, price, time, source, f"n:20261125:{number}:{time}:{qty}:{price}")


def _notice(number: str, text: str) -> dict:
    return {"notice": {"oder_no": number, "cntg_isnm40": text, "extra": ["a", 1, None]}}


def _bursts(orders) -> list[list[tuple]]:
    """(fill, raw payload) bursts: partial and full fills, odd prices (0, 1, a 10-digit one), several fills of
    one order (interleaved), non-ASCII, quotes, backslashes and control characters in the raw payload, none."""
    sent, accepted, part, cancelled, big = orders
    first = [
        (_fill(sent, "090001", 1, 70000), _notice(sent.broker_order_no, "삼성전자")),
        (_fill(accepted, "090001", 4, 0), _notice(accepted.broker_order_no, 'quote " and \\ and \n\t\u2028')),
        (_fill(sent, "090002", 2, 1), None),
        (_fill(part, "090003", 7, 69999), _notice(part.broker_order_no, "")),  # -> FILLED
        (_fill(cancelled, "090004", 1, 70100, "inquiry"), {"n": 1.5, "t": True, "z": [{"é": "ü"}]}),
        (_fill(sent, "090003", 7, 71000), _notice(sent.broker_order_no, "x")),  # -> FILLED
        (_fill(big, "090005", 999_999, 9_999_999_999), {}),
    ]
    second = [
        (_fill(accepted, "091000", 6, 70000), _notice(accepted.broker_order_no, "second")),  # -> FILLED
        (_fill(cancelled, "091001", 3, 70000), _notice(cancelled.broker_order_no, "꽉 참")),  # 6 filled, 3 cancelled
        (_fill(big, "091002", 1, 2), None),  # -> FILLED
    ]
    return [first, second]


def _copies(tmp_path) -> tuple[Ledger, Ledger, list]:
    with Ledger(tmp_path / "seed.db", now=FakeClock()) as seed:
        orders = _setup(seed)
        for name in ("fast", "slow"):
            with sqlite3.connect(tmp_path / f"{name}.db") as copy:
                seed.conn.backup(copy)
            copy.close()
    return Ledger(tmp_path / "fast.db", now=lambda: FIXED), Ledger(tmp_path / "slow.db", now=lambda: FIXED), orders


def _tables(ledger: Ledger) -> dict[str, list[tuple]]:
    names = [r[0] for r in ledger.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name: ledger.conn.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names}


def test_the_builder_writes_the_bytes_record_fill_writes_one_by_one(tmp_path):
    fast, slow, orders = _copies(tmp_path)
    with fast, slow:
        for burst in _bursts(orders):
            with fast.batch():
                items = [(fast.get(f.order_id), f, r) for f, r in burst]
                current = {}
                for order, fill, _ in items:  # (an order's later fills: the order as read, as the engine gives it)
                    current.setdefault(order.id, order)
                items = [(current[o.id], f, r) for o, f, r in items]
                after = fast.record_fills(items)
            assert after is not None
            with slow.batch():
                for fill, raw in burst:
                    assert slow.record_fill(fill.order_id, fill, raw_payload=raw) is not None
            assert _tables(fast) == _tables(slow)
            assert [o.version for o in after] == [slow.get(o.id).version for o in after]
            assert after == [slow.get(o.id) for o in after]
        assert fast.verify_audit_chain() == slow.verify_audit_chain() > 0
        assert fast.events_since(0) == slow.events_since(0)
        assert [o.status for o in map(fast.get, (o.id for o in orders))] == [OrderStatus.FILLED] * 3 + [
            OrderStatus.PART_FILLED, OrderStatus.FILLED]


def test_a_fill_that_is_not_plain_or_a_payload_that_may_hold_a_secret_leaves_the_burst_to_the_generic_path(
        tmp_path):
    fast, slow, orders = _copies(tmp_path)
    sent, accepted = orders[0], orders[1]
    odd = {
        "secret": [(_fill(sent, "090001", 1, 70000), {"appkey": "not-to-be-stored"})],
        "secret_in_a_notice": [(_fill(sent, "090001", 1, 70000), {"notice": {"a": "Bearer x", "b": "1"}})],
        "overfill": [(_fill(accepted, "090001", 11, 70000), None)],
        "eats_the_cancel": [(_fill(orders[3], "090001", 6, 70000), None)],
        "cancelled_by_it": [(_fill(orders[3], "090001", 5, 70000), None)],  # (nothing left: CANCELLED)
        "same_key_twice": [(_fill(sent, "090001", 1, 70000), None)] * 2,
        "bool_qty": [(Fill(sent.id, sent.broker_order_no, True, 70000, "090001", "notice", "k"), None)],
    }
    with fast, slow:
        for name, burst in odd.items():
            with fast.batch():
                before = _tables(fast)
                assert fast.record_fills([(fast.get(f.order_id), f, r) for f, r in burst]) is None, name
                assert _tables(fast) == before, name


def test_the_event_text_is_the_canonical_json_of_the_dense_event():
    for cancelled in (0, 3):
        for amount in (0, 1, 9_999_999_999_999):
            for prev, status in (("SENT", "PART_FILLED"), ("ACCEPTED", "FILLED"), ("PART_FILLED", "FILLED")):
                for source in ("notice", "inquiry", 'ö"\\'):
                    event = {"event": "fill", "prev_status": prev, "status": status, "version": 12, "filled_qty": 7,
                             "source": source, "fill": {"broker_order_no": "1", "dedupe_key": "k", "fill_time": "t",
                                                         "price": 1, "qty": 1}}
                    if cancelled:
                        event["cancelled_qty"] = cancelled
                    if amount:
                        event["filled_amount"] = amount
                    row = {"id": 41, **event["fill"]}
                    expected = db.dumps(dense_event(FILL_KIND, event, row))
                    assert fillrows.event_text(41, prev, status, 12, 7, cancelled, amount, source) == expected


def test_the_audit_digest_is_the_lean_hash_of_the_row():
    fill = Fill(7, "0000000101", 3, 70000, "090001", "notice", "n:20261125:0000000101:090001:3:70000")
    odd = Fill(7, "번호", 1, 0, "", "inquiry", 'k"é\\')
    for prev in (journal.GENESIS, "ab" * 16):
        for f in (fill, odd):
            for text in ("{}", '{"raw_payload":{"notice":{"a":"삼성"}}}'):
                terms = (f.order_id, f.broker_order_no, f.qty, f.price, f.fill_time, f.source, f.dedupe_key)
                etext = '{"fill":3,"filled_qty":3}'
                expected = journal.lean_hash(prev, 5, "", "", "", None, text,
                                             (FIXED.isoformat(), FILL_KIND, 7, etext), 9, terms)
                got = fillrows.audit_digest(prev, 5, text, FIXED.isoformat(), 7, etext, 9, f)
                assert got.hex() == expected and len(got) * 2 == journal.LEAN_HASH_HEX


def test_the_secret_scan_and_the_status_after_a_fill_are_the_generic_ones():
    assert fillrows.NEEDLES == db.SECRET_NEEDLES
    for text in ("plain", "App-Key", "Bearer x", "eyJhbGciOi", "x_TOKEN_y", "pass_word", '{"fill":1}'):
        assert fillrows.may_hold_secrets(text) == db.may_hold_secrets(text)
    for status in OrderStatus:
        for filled, cancelled in ((1, 0), (5, 0), (10, 0), (4, 6), (5, 3)):
            try:
                expected = next_status(status, OrderEvent.FILL, Quantities(10, filled, cancelled))
            except InvalidTransition:
                with pytest.raises(InvalidTransition):
                    fillrows.status_after_fill(status, 10, filled, cancelled)
                continue
            assert fillrows.status_after_fill(status, 10, filled, cancelled) is expected


def test_the_audit_text_is_the_canonical_json_of_the_raw_payload():
    notice = {"oder_no": "0000000101", "cntg_qty": "1", "acnt_no": "5000000101", "cntg_isnm40": "삼성전자"}
    odd_values = ["", 'a"b', "a\\b", "\n", "\x00", "\x1f", "\x7f", "\u2028", "é", "%s", "%%", "100%"]
    raws = [None, {}, {"notice": notice}, {"notice": {**notice, "extra": ["x", 1]}}, {"notice": {"only": "one"}},
            {"notice": notice, "other": 1}, {"notice": {"b": 1, "a": None}}, {"notice": {"%s": "x", "a\"": "y"}},
            {"other": notice}, {"notice": {"b": "2", "a": {"c": "d"}}}]
    raws += [{"notice": {**notice, "cntg_qty": value}} for value in odd_values]
    for raw in raws:
        for _ in range(2):  # (the second time from the remembered form)
            expected = "{}" if raw is None else db.dumps({"raw_payload": raw})
            text, clean = fillrows.audit_text(raw)
            assert text == expected, raw
            assert not clean or not db.may_hold_secrets(text), raw  # ("clean" only when it is)


def test_the_update_of_an_order_after_its_fills_is_the_generic_one():
    before = revised(make_order(qty=10), id=4, version=3, status=OrderStatus.PART_FILLED, filled_qty=2,
                     filled_amount=140000, updated_at=FIXED)
    later = FIXED + timedelta(microseconds=1)
    for status in (OrderStatus.PART_FILLED, OrderStatus.FILLED):
        for filled, amount in ((3, 140000), (3, 210000), (10, 700000)):
            for at in (FIXED, datetime.fromisoformat(FIXED.isoformat()), later):
                after = revised(before, status=status, filled_qty=filled, filled_amount=amount, updated_at=at,
                                version=7)
                expected = ledger_orders.update_statement(before, after, changed_columns(before, after))
                assert fillrows.order_update(before, status, filled, amount, 7, at) == expected


def test_the_burst_orders_are_those_the_generic_queries_read(tmp_path):
    fast, slow, orders = _copies(tmp_path)
    with fast, slow:
        numbers = [*NUMBERS, "0009999999"]
        found, inferred = fillrows.burst_orders(fast.conn, numbers, "20261125")
        assert found == fast.orders_for_broker_numbers(numbers, "20261125") and len(found) == 5
        assert found == {o.broker_order_no: fast.get(o.id) for o in orders}
        assert inferred is False and fillrows.burst_orders(fast.conn, numbers, "20261126") == ({}, False)
        fast.correct(orders[1].id, OrderStatus.PART_FILLED, source="reconcile", raw_payload=None,
                     quantities=Quantities(10, 4, 0), filled_amount=280000, expected_version=orders[1].version,
                     inferred_fill=Fill(orders[1].id, NUMBERS[1], 4, 70000, "", "reconcile", "r:1"))
        assert fast.orders_with_fills_from([o.id for o in orders], "reconcile") == {orders[1].id}
        assert fillrows.burst_orders(fast.conn, numbers, "20261125")[1] is True
        assert fillrows.burst_orders(fast.conn, [NUMBERS[0]], "20261125")[1] is False


@pytest.mark.parametrize("value", ["Bearer abc", "eyJhbGci", "my-token", "SECRET", "app_key", "x-Api-Key-y",
                                   "tok", "İ", "ΣΣ"])
def test_a_notice_value_that_may_hold_a_secret_is_never_taken_for_clean(value):
    notice = {"oder_no": "0000000101", "cntg_qty": "1", "acnt_no": value, "cntg_isnm40": "en"}
    text, clean = fillrows.audit_text({"notice": notice})
    assert text == db.dumps({"raw_payload": {"notice": notice}})
    assert clean == (not db.may_hold_secrets(text)) or (not clean and value == "tok")  # ("tok"+"en": looked at)
    for source in ("notice", "token"):
        assert fillrows.event_clean("SENT", "PART_FILLED", source) == (not db.may_hold_secrets(
            fillrows.event_text(1, "SENT", "PART_FILLED", 2, 1, 0, 5, source)))
