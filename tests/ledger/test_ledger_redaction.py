"""Secrets never reach the file: history, audit, events, requests and external orders are redacted."""

from __future__ import annotations

import pytest
from ledger_helpers import make_order

from kisoms.domain.states import OrderEvent

SECRETS = {"appkey": "PSKEY-123", "appsecret": "SEKRIT-456", "authorization": "Bearer TOKEN-789",
           "access_token": "TOKEN-789", "approval_key": "APPROVAL-000", "secretkey": "WSKEY-111"}


def payload() -> dict:
    return {"headers": dict(SECRETS), "body": {"ODNO": "0000123"}, "list": [{"appkey": "PSKEY-123"}]}


def test_no_secret_is_written_anywhere(ledger, path):
    order, _ = ledger.create(make_order(), source="t", raw_payload=payload())
    order, map_id = ledger.claim(order.id, request=payload(), tr_id="order-cash", source="t")
    ledger.settle(map_id, state="accepted", order_id=order.id, event=OrderEvent.BROKER_ACCEPTED,
                  source="t", raw_payload=payload(),
                  map_fields={"broker_order_no": "0000123", "krx_orgno": "91252", "order_date": "20261125"})
    ledger.publish("connection.up", payload())
    ledger.record_external(order_date="20261125", broker_order_no="9", account="50000001-01", symbol="005930",
                           side="buy", qty=1, price=1, raw=payload())
    ledger.close()
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for secret in SECRETS.values():
        assert secret.encode() not in data


def test_history_and_audit_keep_the_rest(ledger):
    order, _ = ledger.create(make_order(), source="t", raw_payload=payload())
    [h] = ledger.history(order.id)
    assert h.raw_payload["headers"] == {k: "***" for k in SECRETS}
    assert h.raw_payload["body"] == {"ODNO": "0000123"}
    assert h.raw_payload["list"] == [{"appkey": "***"}]
    audit_payload = ledger.conn.execute("SELECT payload FROM audit_log").fetchone()[0]
    assert "PSKEY-123" not in audit_payload and "0000123" in audit_payload


@pytest.mark.parametrize("payload", [
    {"ODNO": "0000123", "msg1": "ok"}, {"App-Key": "k"}, {"nested": [{"access_token": "t"}]},
    {"msg": "Bearer abcdefgh12345"}, {"jwt": "xeyJhbGciOi.eyJzdWIi.sig"}, {"TOKEN_TYPE": "Bearer"},
    ["plain", 1, None], "Authorization", {"a": {"Client_Secret": {"x": 1}}}, {},
])
def test_clean_text_is_the_redacted_payload(payload):
    """The one-pass store path gives exactly the redacted payload's text, secrets or not."""
    from kisoms.ledger.db import clean, clean_text, dumps

    assert clean_text(payload) == dumps(clean(payload))


_PAYLOADS = [{"ODNO": "0000123", "msg1": "ok"}, {"App-Key": "k"}, {"msg": "Bearer abcdefgh12345"}, ["plain", 1, None],
             "Authorization", {"jwt": "xeyJhbGciOi.eyJzdWIi.sig"}, {}, {"tok": "en"}, "ey", {"j": "x"}]


@pytest.mark.parametrize("first", _PAYLOADS)
@pytest.mark.parametrize("second", _PAYLOADS)
def test_two_texts_looked_through_at_once_are_each_the_redacted_payload(first, second):
    """An event and its audit row are checked for secrets in one pass: each text is still exactly its own
    redacted payload's, whichever of the two (or both, or neither) holds a secret, and nothing of one
    joined to the other reads as a secret."""
    from kisoms.ledger.db import clean, clean_texts, dumps

    assert clean_texts(first, second) == (dumps(clean(first)), dumps(clean(second)))
