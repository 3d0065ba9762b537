"""The idempotency key (OMS-01): one order per (account, strategy_version, symbol, signal_ts, side).

Canonical form, fields joined by the unit separator U+001F (which no field may contain)::

    kisoms-idem-v1 ␟ account ␟ strategy_version ␟ SYMBOL ␟ signal_ts ␟ side

where ``signal_ts`` is normalised to UTC with microseconds (``2026-11-25T00:00:00.000000Z``) and the
symbol is upper-case. The key is ``"ik1_" + sha256(canonical).hexdigest()[:40]``. The same intent gives
the same key whatever time zone its timestamp was written in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from kisoms.domain.codes import Side

KEY_VERSION = "kisoms-idem-v1"
SEPARATOR = "\x1f"


def canonical_timestamp(ts: datetime) -> str:
    """UTC, microsecond precision, trailing Z. Naive timestamps are refused."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("signal_ts must be timezone-aware")
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_form(account: str, strategy_version: str, symbol: str, signal_ts: datetime, side: Side) -> str:
    """The exact text that is hashed."""
    fields = [KEY_VERSION, account, strategy_version, symbol.upper(), canonical_timestamp(signal_ts), side.value]
    if any(SEPARATOR in f for f in fields):
        raise ValueError("fields may not contain the unit separator U+001F")
    return SEPARATOR.join(fields)


def idempotency_key(account: str, strategy_version: str, symbol: str, signal_ts: datetime, side: Side) -> str:
    """The deterministic idempotency key for an intent."""
    digest = hashlib.sha256(canonical_form(account, strategy_version, symbol, signal_ts, side).encode()).hexdigest()
    return "ik1_" + digest[:40]


def intent_key(intent) -> str:
    """The key of an ApprovedOrderIntent."""
    return idempotency_key(intent.account, intent.strategy_version, intent.symbol, intent.signal_ts, intent.side)
