"""OMS-01: the idempotency key is deterministic, zone-independent, and changes with every key field."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from domain_helpers import make_intent
from hypothesis import given
from hypothesis import strategies as st

from kisoms.domain.codes import Side
from kisoms.domain.idempotency import (
    SEPARATOR,
    canonical_form,
    canonical_timestamp,
    idempotency_key,
    intent_key,
)

KST = timezone(timedelta(hours=9))
TS = datetime(2026, 11, 25, 9, 0, tzinfo=KST)
FIELDS = ("50000001-01", "momentum-v3", "005930", TS, Side.BUY)


def test_documented_canonical_form():
    """The example of the module docstring, written out by hand."""
    assert canonical_form(*FIELDS) == (
        "kisoms-idem-v1\x1f50000001-01\x1fmomentum-v3\x1f005930\x1f2026-11-25T00:00:00.000000Z\x1fbuy"
    )


def test_key_is_a_prefixed_truncated_sha256_of_the_canonical_form():
    digest = hashlib.sha256(canonical_form(*FIELDS).encode()).hexdigest()
    assert idempotency_key(*FIELDS) == "ik1_" + digest[:40]


def test_key_is_pinned():
    """Stored keys must never change meaning: a change here is a migration, not a refactor."""
    assert idempotency_key(*FIELDS) == "ik1_08fc5fdc4dfdcd40e763cac8e36720da093d6d1c"


@pytest.mark.parametrize("ts", [
    datetime(2026, 11, 25, 9, 0, tzinfo=KST),
    datetime(2026, 11, 25, 0, 0, tzinfo=timezone.utc),
    datetime(2026, 11, 24, 19, 0, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 11, 25, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
])
def test_same_instant_in_any_zone_gives_the_same_key(ts):
    assert idempotency_key("50000001-01", "momentum-v3", "005930", ts, Side.BUY) == idempotency_key(*FIELDS)


def test_same_intent_written_in_different_zones_gives_the_same_key():
    kst = make_intent(signal_ts="2026-11-25T09:00:00+09:00")
    utc = make_intent(signal_ts="2026-11-25T00:00:00Z")
    new_york = make_intent(signal_ts="2026-11-24T19:00:00-05:00")
    assert intent_key(kst) == intent_key(utc) == intent_key(new_york) == idempotency_key(*FIELDS)


@pytest.mark.parametrize("index, value", [
    (0, "50000002-01"),
    (0, "50000001-02"),
    (1, "momentum-v4"),
    (2, "000660"),
    (3, TS + timedelta(microseconds=1)),
    (3, TS + timedelta(seconds=1)),
    (4, Side.SELL),
])
def test_changing_any_key_field_changes_the_key(index, value):
    fields = list(FIELDS)
    fields[index] = value
    assert idempotency_key(*fields) != idempotency_key(*FIELDS)


@pytest.mark.parametrize("change", [
    {"account": "50000002-01"}, {"strategy_version": "v9"}, {"symbol": "000660"},
    {"signal_ts": "2026-11-25T09:00:00.000001+09:00"}, {"side": "sell"},
])
def test_changing_any_key_field_of_an_intent_changes_its_key(change):
    assert intent_key(make_intent(**change)) != intent_key(make_intent())


@pytest.mark.parametrize("change", [
    {"qty": 99}, {"price": 70000}, {"order_type": "market", "price": None}, {"exchange": "NXT"},
    {"tags": {"note": "retry"}}, {"symbol": "005930 "},
])
def test_non_key_fields_map_to_the_same_order(change):
    """A resubmitted signal with other terms is the SAME order (create-or-return), by design."""
    assert intent_key(make_intent(**change)) == intent_key(make_intent())


def test_symbol_case_does_not_matter():
    assert idempotency_key("50000001-01", "v", "0001a0", TS, Side.BUY) == idempotency_key(
        "50000001-01", "v", "0001A0", TS, Side.BUY)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        idempotency_key("50000001-01", "v", "005930", datetime(2026, 11, 25, 9, 0), Side.BUY)
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_timestamp(datetime(2026, 11, 25, 9, 0))


def test_the_separator_may_not_appear_in_a_field():
    with pytest.raises(ValueError, match="separator"):
        idempotency_key("50000001-01", "v1" + SEPARATOR + "x", "005930", TS, Side.BUY)


def test_canonical_timestamp_keeps_microseconds():
    ts = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=KST)
    assert canonical_timestamp(ts) == "2026-11-25T00:00:00.123456Z"


@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    side=st.sampled_from(Side),
)
def test_key_depends_on_the_instant_only(instant, offset_minutes, side):
    utc = instant.replace(tzinfo=timezone.utc)
    shifted = utc.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert idempotency_key("50000001-01", "v", "005930", shifted, side) == idempotency_key(
        "50000001-01", "v", "005930", utc, side)


@given(a=st.datetimes(timezones=st.just(timezone.utc)), b=st.datetimes(timezones=st.just(timezone.utc)))
def test_different_instants_give_different_keys(a, b):
    same = a == b
    assert (idempotency_key("50000001-01", "v", "005930", a, Side.BUY)
            == idempotency_key("50000001-01", "v", "005930", b, Side.BUY)) is same
