"""ApprovedOrderIntent: strict parsing, and a clear message naming the field for every bad input."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from domain_helpers import BASE_INTENT, make_intent
from pydantic import ValidationError as PydanticValidationError

from kisoms.domain.codes import Exchange, OrderType, Side
from kisoms.domain.intent import ApprovedOrderIntent, parse_intent


def errors_of(**changes) -> list[dict]:
    with pytest.raises(PydanticValidationError) as err:
        make_intent(**changes)
    return err.value.errors()


def only_error(**changes) -> tuple[str, str]:
    """(field, message) of the single error ``changes`` cause."""
    [error] = errors_of(**changes)
    return ".".join(map(str, error["loc"])), error["msg"]


def test_a_good_intent_parses():
    intent = make_intent()
    assert (intent.account, intent.symbol, intent.side, intent.order_type, intent.qty, intent.price) == (
        "50000001-01", "005930", Side.BUY, OrderType.LIMIT, 10, 71000)
    assert intent.signal_ts.utcoffset().total_seconds() == 9 * 3600
    assert intent.exchange is None and intent.tags == {}


def test_json_text_and_bytes_parse_alike():
    import json

    text = json.dumps(BASE_INTENT)
    assert parse_intent(text) == parse_intent(text.encode()) == make_intent()


@pytest.mark.parametrize("account", ["5000000101", "5000001-01", "50000001-1", "50000001-001", "A0000001-01",
                                     "50000001_01", ""])
def test_bad_account_format(account):
    field, msg = only_error(account=account)
    assert field == "account" and "pattern" in msg


@pytest.mark.parametrize("symbol", ["5930", "00593", "00593012", "0059-0", "00 593", ""])
def test_bad_symbol(symbol):
    field, msg = only_error(symbol=symbol)
    assert field == "symbol" and "6-character KRX short code" in msg


def test_symbol_must_be_text():
    field, msg = only_error(symbol=5930)
    assert field == "symbol" and "string" in msg


def test_symbol_is_normalised():
    assert make_intent(symbol=" 0001a0 ").symbol == "0001A0"
    assert make_intent(symbol="5001234").symbol == "5001234"  # ETN codes have 7 characters


@pytest.mark.parametrize("ts", ["2026-11-25T09:00:00", "2026-11-25 09:00:00"])
def test_naive_signal_ts_is_refused(ts):
    field, msg = only_error(signal_ts=ts)
    assert field == "signal_ts" and "time zone" in msg


def test_signal_ts_must_be_a_time():
    field, _ = only_error(signal_ts="yesterday")
    assert field == "signal_ts"


def test_naive_datetime_object_is_refused():
    field, msg = only_error(signal_ts=datetime(2026, 11, 25, 9, 0))
    assert field == "signal_ts" and "time zone" in msg


def test_unknown_side():
    field, msg = only_error(side="hold")
    assert field == "side" and "'buy' or 'sell'" in msg


def test_unknown_order_type():
    field, msg = only_error(order_type="stop")
    assert field == "order_type" and "'limit'" in msg


def test_unknown_exchange():
    field, msg = only_error(exchange="NYSE")
    assert field == "exchange" and "'KRX'" in msg


@pytest.mark.parametrize("side, expected", [("buy", Side.BUY), ("BUY", Side.BUY), (" Sell ", Side.SELL)])
def test_side_is_case_insensitive(side, expected):
    assert make_intent(side=side).side is expected


@pytest.mark.parametrize("order_type, expected", [("LIMIT", OrderType.LIMIT), ("Ioc_Limit", OrderType.IOC_LIMIT)])
def test_order_type_is_case_insensitive(order_type, expected):
    assert make_intent(order_type=order_type).order_type is expected


@pytest.mark.parametrize("exchange", ["krx", "KRX", " Krx "])
def test_exchange_is_case_insensitive(exchange):
    assert make_intent(exchange=exchange).exchange is Exchange.KRX


@pytest.mark.parametrize("order_type", [t.value for t in OrderType if t.has_price])
def test_priced_types_need_a_price(order_type):
    field, msg = only_error(order_type=order_type, price=None)
    assert field == "" and f"order_type {order_type} needs a price" in msg


@pytest.mark.parametrize("order_type", [t.value for t in OrderType if not t.has_price])
def test_unpriced_types_take_no_price(order_type):
    field, msg = only_error(order_type=order_type, price=71000)
    assert field == "" and "takes no price (ORD_UNPR must be 0)" in msg


@pytest.mark.parametrize("price", [None, 0])
def test_unpriced_types_accept_no_price_or_zero(price):
    assert make_intent(order_type="market", price=price).price == price


@pytest.mark.parametrize("field, value", [
    ("qty", "10"), ("qty", 10.0), ("qty", 10.5), ("qty", True), ("price", "71000"), ("price", 71000.0),
])
def test_strings_floats_and_bools_are_not_numbers(field, value):
    where, msg = only_error(**{field: value})
    assert where == field and "valid integer" in msg


def test_unknown_fields_are_refused():
    field, msg = only_error(quantity=10)
    assert field == "quantity" and "Extra inputs are not permitted" in msg


def test_empty_strategy_version_is_refused():
    field, _ = only_error(strategy_version="")
    assert field == "strategy_version"


def test_tags_must_be_text():
    field, _ = only_error(tags={"n": 1})
    assert field == "tags.n"


def test_every_bad_field_is_reported_at_once():
    fields = {".".join(map(str, e["loc"])) for e in errors_of(account="x", symbol="1", side="hold", qty="1")}
    assert fields == {"account", "symbol", "side", "qty"}


def test_intent_is_frozen():
    intent = make_intent()
    with pytest.raises(PydanticValidationError):
        intent.qty = 5


def test_python_construction_accepts_enum_text():
    intent = ApprovedOrderIntent(account="50000001-01", strategy_version="v", symbol="005930", side="SELL",
                                 order_type="market", qty=1, signal_ts=datetime(2026, 1, 2, tzinfo=timezone.utc))
    assert (intent.side, intent.order_type) == (Side.SELL, OrderType.MARKET)


def test_quantity_sign_is_left_to_validation():
    """The intent is a shape check; qty > 0 is a validation rule with its own code (QTY_NOT_POSITIVE)."""
    assert make_intent(qty=0).qty == 0
