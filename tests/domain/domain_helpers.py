"""Builders shared by the domain tests (imported as `domain_helpers`, like tests/ledger/ledger_helpers)."""

from __future__ import annotations

from typing import Any

from kisoms.domain.intent import ApprovedOrderIntent, parse_intent

BASE_INTENT: dict[str, Any] = {
    "account": "50000001-01",
    "strategy_version": "momentum-v3",
    "symbol": "005930",
    "side": "buy",
    "order_type": "limit",
    "qty": 10,
    "price": 71000,
    "signal_ts": "2026-11-25T09:00:00+09:00",
}


def make_intent(**changes: Any) -> ApprovedOrderIntent:
    """A valid intent (parsed strictly, as from a file) with ``changes`` applied."""
    return parse_intent({**BASE_INTENT, **changes})


def raw_intent(**changes: Any) -> ApprovedOrderIntent:
    """An intent built WITHOUT validation: to reach rules the intent model already guards."""
    intent = make_intent()
    return ApprovedOrderIntent.model_construct(**{**intent.__dict__, **changes})
