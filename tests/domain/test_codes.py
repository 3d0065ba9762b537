"""The ORD_DVSN table (PROTOCOL.md, "ORD_DVSN codes"), the ORD_UNPR rule, sides and account numbers."""

from __future__ import annotations

import re

import pytest
from domain_helpers import make_intent
from pydantic import ValidationError as PydanticValidationError

from kisoms.domain.codes import (
    ACCOUNT_PATTERN,
    ORDER_TYPES,
    Exchange,
    InstrumentKind,
    OrderType,
    OrderTypeSpec,
    Side,
    ord_unpr,
    split_account,
)

# PROTOCOL.md, written out: (order type, ORD_DVSN, carries a price, confirmed against KIS)
PROTOCOL_TABLE = [
    (OrderType.LIMIT, "00", True, True),
    (OrderType.MARKET, "01", False, True),
    (OrderType.CONDITIONAL_LIMIT, "02", True, True),
    (OrderType.BEST_LIMIT, "03", False, True),
    (OrderType.TOP_PRIORITY, "04", False, True),
    (OrderType.PRE_MARKET_CLOSE, "05", False, True),
    (OrderType.AFTER_HOURS_CLOSE, "06", False, True),
    (OrderType.AFTER_HOURS_SINGLE, "07", True, True),
    (OrderType.IOC_LIMIT, "11", True, True),
    (OrderType.FOK_LIMIT, "12", True, True),
    (OrderType.IOC_MARKET, "13", False, True),
    (OrderType.FOK_MARKET, "14", False, True),
    (OrderType.IOC_BEST, "15", False, True),
    (OrderType.FOK_BEST, "16", False, True),
    (OrderType.MID_POINT, "21", True, False),
    (OrderType.STOP_LIMIT, "22", True, False),
]
PRICED = [t for t, _, has_price, _ in PROTOCOL_TABLE if has_price]
UNPRICED = [t for t, _, has_price, _ in PROTOCOL_TABLE if not has_price]


def test_every_order_type_is_in_the_table_and_nothing_else():
    assert list(ORDER_TYPES) == list(OrderType) == [row[0] for row in PROTOCOL_TABLE]


@pytest.mark.parametrize("order_type, code, has_price, confirmed", PROTOCOL_TABLE)
def test_order_type_maps_to_its_code_and_price_rule(order_type, code, has_price, confirmed):
    spec = ORDER_TYPES[order_type]
    assert isinstance(spec, OrderTypeSpec)
    assert (spec.name, spec.ord_dvsn, spec.has_price, spec.confirmed) == (order_type.value, code, has_price,
                                                                          confirmed)
    assert order_type.spec is spec
    assert (order_type.ord_dvsn, order_type.has_price) == (code, has_price)
    assert spec.label  # a human label for messages and the CLI


@pytest.mark.parametrize("order_type, code, has_price, confirmed", PROTOCOL_TABLE)
def test_lookup_by_code_and_by_name(order_type, code, has_price, confirmed):
    assert OrderType.from_ord_dvsn(code) is order_type
    assert OrderType(order_type.value) is order_type
    assert OrderType[order_type.name] is order_type


def test_codes_and_names_are_unique_two_digit_strings():
    codes = [spec.ord_dvsn for spec in ORDER_TYPES.values()]
    names = [spec.name for spec in ORDER_TYPES.values()]
    assert len(set(codes)) == len(codes) == 16
    assert len(set(names)) == len(names) == 16
    assert all(len(c) == 2 and c.isdigit() for c in codes)


def test_only_mid_point_and_stop_limit_are_unconfirmed():
    assert {t for t, s in ORDER_TYPES.items() if not s.confirmed} == {OrderType.MID_POINT, OrderType.STOP_LIMIT}


@pytest.mark.parametrize("code", ["99", "1", "001", "", "10", "limit", " 00"])
def test_unknown_code_is_a_key_error(code):
    with pytest.raises(KeyError, match="unknown ORD_DVSN"):
        OrderType.from_ord_dvsn(code)


@pytest.mark.parametrize("order_type", PRICED)
def test_priced_types_send_their_price(order_type):
    assert ord_unpr(order_type, 71000) == "71000"
    assert ord_unpr(order_type, 1) == "1"


@pytest.mark.parametrize("order_type", PRICED)
@pytest.mark.parametrize("price", [None, 0, -100])
def test_priced_types_refuse_a_missing_or_non_positive_price(order_type, price):
    with pytest.raises(ValueError, match=f"{order_type.value} needs a positive price"):
        ord_unpr(order_type, price)


@pytest.mark.parametrize("order_type", UNPRICED)
@pytest.mark.parametrize("price", [None, 0, 71000])
def test_unpriced_types_send_zero(order_type, price):
    assert ord_unpr(order_type, price) == "0"


def test_priced_and_unpriced_split_as_in_the_protocol():
    assert [t.ord_dvsn for t in PRICED] == ["00", "02", "07", "11", "12", "21", "22"]
    assert [t.ord_dvsn for t in UNPRICED] == ["01", "03", "04", "05", "06", "13", "14", "15", "16"]


@pytest.mark.parametrize("side, code", [(Side.BUY, "02"), (Side.SELL, "01")])
def test_side_kis_codes(side, code):
    assert side.kis_code == code
    assert Side.from_kis_code(code) is side
    assert Side.from_kis_code(f" {code} ") is side


@pytest.mark.parametrize("code", ["00", "03", "", "1"])
def test_unknown_side_code(code):
    with pytest.raises(KeyError):
        Side.from_kis_code(code)


def test_exchanges_and_instrument_kinds():
    assert [e.value for e in Exchange] == ["KRX", "NXT", "SOR"]
    assert [k.value for k in InstrumentKind] == ["stock", "etf"]


def test_split_account():
    assert split_account("50000001-01") == ("50000001", "01")
    assert split_account("12345678-22") == ("12345678", "22")


@pytest.mark.parametrize("account", ["5000000101", "5000001-01", "50000001-1", "50000001-001", "A0000001-01",
                                     "50000001_01", "", "-", "50000001-0a"])
def test_split_account_refuses_malformed_numbers(account):
    with pytest.raises(ValueError, match="12345678-01"):
        split_account(account)


@pytest.mark.parametrize("account", ["5000000²-01", "５0000001-01", "50000001-٠1"])
def test_account_digits_must_be_ascii(account):
    """str.isdigit and regex \\d accept other scripts' digits; KIS's CANO does not."""
    with pytest.raises(ValueError, match="12345678-01"):
        split_account(account)
    assert re.fullmatch(ACCOUNT_PATTERN, account) is None
    with pytest.raises(PydanticValidationError, match="pattern"):
        make_intent(account=account)
