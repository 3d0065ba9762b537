"""Today's price band: one inquire-price per symbol per KST day, shared by processes, dropped on a refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine_helpers import intent, make_settings
from kisoms.domain.policy import MarketReference
from kisoms.domain.states import OrderStatus
from kisoms.engine.bands import BANDS_FILE, BandCache, band_cache
from kisoms.engine.clock import Clock, kst_ymd
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import ValidationError


class FixedClock(Clock):
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


def counting_quotes(rt) -> list[str]:
    """Record every inquire-price the runtime's client makes."""
    calls, real = [], rt.client.inquire_price

    def counted(symbol):
        calls.append(symbol)
        return real(symbol)

    rt.client.inquire_price = counted
    return calls


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc))


def test_one_quote_per_symbol_per_day_shared_by_runtimes(settings, clock):
    with open_runtime(settings, clock=clock) as rt:
        quotes = counting_quotes(rt)
        for n in range(3):
            submit(rt, intent(n))
        submit(rt, intent(3, symbol="000660", price=180000))
        assert quotes == ["005930", "000660"]
    with open_runtime(settings, clock=clock) as other:  # another process: reads the shared file
        band_cache(settings.state_path, f"sim|{settings.rest_url}").memory.clear()
        quotes = counting_quotes(other)
        submit(other, intent(4))
        assert quotes == []
        clock.at += timedelta(days=1)
        submit(other, intent(5))
        assert quotes == ["005930"]  # a new KST day, a new band
    assert (settings.state_path / BANDS_FILE).stat().st_mode & 0o777 == 0o600


def test_validation_against_a_cached_band_is_unchanged(settings, clock):
    with open_runtime(settings, clock=clock) as rt:
        submit(rt, intent(0))
        with pytest.raises(ValidationError) as fresh:
            submit(rt, intent(1, price=71000 * 2))  # above the upper limit: cached band, same verdict
        assert "PRICE_ABOVE_UPPER_LIMIT" in str(fresh.value.codes)


def test_a_price_limit_refusal_drops_the_band(settings, clock):
    with open_runtime(settings, clock=clock) as rt:
        bands = band_cache(settings.state_path, f"sim|{settings.rest_url}")
        day = kst_ymd(clock.now())
        bands.put("005930", day, MarketReference(base_price=71000, upper_limit=200000, lower_limit=1000))
        quotes = counting_quotes(rt)
        result = submit(rt, intent(0, price=95000))  # fine by the stale band, outside the real one
        assert result.order.status is OrderStatus.REJECTED and result.order.reject_code == "APBK0507"
        assert bands.get("005930", day) is None
        with pytest.raises(ValidationError):
            submit(rt, intent(1, price=95000))  # the fresh band catches it before the broker
        assert quotes == ["005930"]


def test_an_order_without_a_price_needs_no_quote_without_a_notional_limit(sim, tmp_path, clock):
    settings = make_settings(sim, tmp_path)
    with open_runtime(settings, clock=clock) as rt:
        quotes = counting_quotes(rt)
        submit(rt, intent(0, order_type="market", price=None))
        assert quotes == []
    limited = make_settings(sim, tmp_path, accounts={"50000001-01": {"max_notional": 10_000_000}})
    with open_runtime(limited, clock=clock) as rt:
        band_cache(limited.state_path, f"sim|{limited.rest_url}").memory.clear()
        (limited.state_path / BANDS_FILE).unlink(missing_ok=True)
        quotes = counting_quotes(rt)
        submit(rt, intent(1, order_type="market", price=None, qty=10))
        assert quotes == ["005930"]  # the notional limit values it at today's upper limit


def test_an_incomplete_band_is_not_kept(tmp_path):
    bands = band_cache(tmp_path, "sim|x")
    bands.put("005930", "20261125", MarketReference(current_price=70000))
    assert bands.get("005930", "20261125") is None
    (tmp_path / BANDS_FILE).write_text('{"sim|x|20261125": {"005930": [1, "x", null, "etf"]}}')
    assert bands.get("005930", "20261125") is None


def test_a_band_another_process_dropped_is_not_used_from_memory(tmp_path):
    """Each process keeps the bands it has read in memory, but follows the shared file: a band another
    process dropped (a price-limit refusal there) is fetched again here too."""
    band = MarketReference(base_price=70000, upper_limit=91000, lower_limit=49000)
    here, there = band_cache(tmp_path, "sim|x"), BandCache(tmp_path, "sim|x")  # (there: its own memory)
    here.put("005930", "20261125", band)
    assert here.get("005930", "20261125") == band and there.get("005930", "20261125") == band
    there.drop("005930")
    assert here.get("005930", "20261125") is None
