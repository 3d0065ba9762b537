"""A timestamp whose tzinfo gives no offset is naive in Python's eyes: refused, never read as local time."""

from __future__ import annotations

from datetime import datetime, tzinfo

import pytest

from kisoms.domain.codes import Side
from kisoms.domain.idempotency import canonical_timestamp, idempotency_key


class NoOffset(tzinfo):
    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None

    def tzname(self, dt):
        return "??"


def test_a_tzinfo_without_an_offset_is_refused():
    ts = datetime(2026, 11, 25, 9, 0, tzinfo=NoOffset())
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_timestamp(ts)
    with pytest.raises(ValueError):
        idempotency_key("50000001-01", "s1", "005930", ts, Side.BUY)


def test_a_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical_timestamp(datetime(2026, 11, 25, 9, 0))
