"""KRX tick sizes (table since 2023-01-25, and the ETF/ETN/ELW table), rounding to ticks, daily limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kisoms.domain.codes import InstrumentKind
from kisoms.domain.ticks import is_on_tick, price_limits, round_down, round_up, tick_size

STOCK, ETF = InstrumentKind.STOCK, InstrumentKind.ETF

# PROTOCOL.md, "KRX market rules": (band lower bound inclusive, tick), written out independently.
STOCK_BANDS = [(1, 1), (2_000, 5), (5_000, 10), (20_000, 50), (50_000, 100), (200_000, 500), (500_000, 1_000)]
ETF_BANDS = [(1, 1), (2_000, 5)]
BANDS = {STOCK: STOCK_BANDS, ETF: ETF_BANDS}


def oracle_tick(price: int, kind: InstrumentKind) -> int:
    """The tick by scanning the bands from the top."""
    return next(tick for low, tick in reversed(BANDS[kind]) if price >= low)


def edge_cases(bands):
    """(price, tick) just below, at and just above every band edge."""
    cases = []
    for (_, below_tick), (edge, tick) in zip(bands, bands[1:]):
        cases += [(edge - 1, below_tick), (edge, tick), (edge + 1, tick)]
    return cases


def test_edge_cases_cover_every_boundary():
    assert [p for p, _ in edge_cases(STOCK_BANDS)] == [
        1_999, 2_000, 2_001, 4_999, 5_000, 5_001, 19_999, 20_000, 20_001, 49_999, 50_000, 50_001,
        199_999, 200_000, 200_001, 499_999, 500_000, 500_001]


@pytest.mark.parametrize("price, tick", [(1, 1), *edge_cases(STOCK_BANDS), (10_000_000, 1_000)])
def test_stock_tick_at_every_band_edge(price, tick):
    assert tick_size(price) == tick
    assert tick_size(price, STOCK) == tick


@pytest.mark.parametrize("price, tick", [(1, 1), (1_999, 1), (2_000, 5), (2_001, 5), (4_999, 5), (5_000, 5),
                                         (50_000, 5), (500_000, 5), (10_000_000, 5)])
def test_etf_tick_at_every_band_edge(price, tick):
    assert tick_size(price, ETF) == tick


@pytest.mark.parametrize("kind", list(InstrumentKind))
@pytest.mark.parametrize("price", [0, -1, -5_000])
def test_tick_of_a_non_positive_price_is_an_error(price, kind):
    with pytest.raises(ValueError, match="positive"):
        tick_size(price, kind)


@pytest.mark.parametrize("price, kind, on_tick", [
    (1_999, STOCK, True), (2_000, STOCK, True), (2_003, STOCK, False), (2_005, STOCK, True),
    (4_995, STOCK, True), (4_999, STOCK, False), (5_005, STOCK, False), (5_010, STOCK, True),
    (71_000, STOCK, True), (71_050, STOCK, False), (199_900, STOCK, True), (200_100, STOCK, False),
    (200_500, STOCK, True), (500_500, STOCK, False), (501_000, STOCK, True),
    (10_005, ETF, True), (10_003, ETF, False), (1_999, ETF, True), (2_001, ETF, False), (500_005, ETF, True),
    (0, STOCK, False), (-100, STOCK, False), (0, ETF, False),
])
def test_is_on_tick(price, kind, on_tick):
    assert is_on_tick(price, kind) is on_tick


@pytest.mark.parametrize("price, kind, down, up", [
    (1_999, STOCK, 1_999, 1_999), (2_001, STOCK, 2_000, 2_005), (4_999, STOCK, 4_995, 5_000),
    (4_996, STOCK, 4_995, 5_000), (5_001, STOCK, 5_000, 5_010), (19_999, STOCK, 19_990, 20_000),
    (20_001, STOCK, 20_000, 20_050), (49_999, STOCK, 49_950, 50_000), (50_050, STOCK, 50_000, 50_100),
    (71_050, STOCK, 71_000, 71_100), (199_901, STOCK, 199_900, 200_000), (200_001, STOCK, 200_000, 200_500),
    (499_501, STOCK, 499_500, 500_000), (500_999, STOCK, 500_000, 501_000),
    (2_003, ETF, 2_000, 2_005), (10_001, ETF, 10_000, 10_005), (1_999, ETF, 1_999, 1_999),
])
def test_rounding_examples(price, kind, down, up):
    assert (round_down(price, kind), round_up(price, kind)) == (down, up)


PRICES = st.one_of(st.integers(1, 3_000_000),
                   st.sampled_from([e for e, _ in STOCK_BANDS]).flatmap(lambda e: st.integers(e - 3, e + 3)))
KINDS = st.sampled_from(InstrumentKind)


@settings(max_examples=300, deadline=None)
@given(price=PRICES.filter(lambda p: p > 0), kind=KINDS)
def test_tick_matches_the_protocol_table(price, kind):
    assert tick_size(price, kind) == oracle_tick(price, kind)


@settings(max_examples=300, deadline=None)
@given(price=PRICES.filter(lambda p: p > 0), kind=KINDS)
def test_round_down_is_the_highest_valid_price_at_or_below(price, kind):
    down = round_down(price, kind)
    assert is_on_tick(down, kind)
    assert 0 < price - down + 1 <= tick_size(price, kind)  # at or below, less than one tick away
    assert not any(is_on_tick(p, kind) for p in range(down + 1, price + 1))
    assert round_down(down, kind) == down  # idempotent
    assert (down == price) is is_on_tick(price, kind)


@settings(max_examples=300, deadline=None)
@given(price=PRICES.filter(lambda p: p > 0), kind=KINDS)
def test_round_up_is_the_lowest_valid_price_at_or_above(price, kind):
    up = round_up(price, kind)
    assert is_on_tick(up, kind)
    assert 0 <= up - price < tick_size(price, kind)
    assert not any(is_on_tick(p, kind) for p in range(price, up))
    assert round_up(up, kind) == up
    assert (up == price) is is_on_tick(price, kind)


# --- Daily limits --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("base, kind, lower, upper", [
    (10_000, STOCK, 7_000, 13_000),
    (71_000, STOCK, 49_700, 92_300),
    (1_540, STOCK, 1_078, 2_000),  # 130% is 2,002: rounded down onto the 5-won tick
    (3_333, STOCK, 2_335, 4_330),  # 70% is 2,333.1 -> 2,334 -> up to 2,335; 130% is 4,332.9 -> 4,330
    (400_000, STOCK, 280_000, 520_000),
    (1, STOCK, 1, 1),
    (3_333, ETF, 2_335, 4_330),
    (10_001, ETF, 7_005, 13_000),  # 7,000.7 -> 7,001 -> 7,005; 13,001.3 -> 13,001 -> 13,000
])
def test_price_limits_examples(base, kind, lower, upper):
    assert price_limits(base, kind) == (lower, upper)


@settings(max_examples=300, deadline=None)
@given(base=st.integers(1, 2_000_000), kind=KINDS)
def test_price_limits_are_the_innermost_ticks_within_30_percent(base, kind):
    lower, upper = price_limits(base, kind)
    assert is_on_tick(lower, kind) and is_on_tick(upper, kind)
    assert lower * 100 >= base * 70 and upper * 100 <= base * 130  # inside ±30%
    assert lower <= base <= upper or not is_on_tick(base, kind)
    # rounded inward by less than a tick: the next valid price outward is beyond ±30%
    assert (upper + tick_size(upper, kind)) * 100 > base * 130
    assert lower == 1 or (lower - tick_size(lower - 1, kind)) * 100 < base * 70
