"""The one door every payload goes through before it is stored: JSON-normalised, then redacted."""

from __future__ import annotations

from typing import Any

from kisoms.ledger.codec import plain

try:
    from kisoms.domain.redact import redact
except ImportError:  # TEMPORARY fallback until kisoms.domain.redact lands; delete this branch then.
    _SECRET_KEYS = frozenset({"appkey", "appsecret", "authorization", "access_token", "approval_key", "secretkey"})

    def redact(payload: Any) -> Any:
        """Deep copy with secret keys replaced by "***" (fallback)."""
        if isinstance(payload, dict):
            return {k: "***" if str(k).lower() in _SECRET_KEYS else redact(v) for k, v in payload.items()}
        if isinstance(payload, (list, tuple)):
            return [redact(v) for v in payload]
        return payload


def clean(payload: Any) -> Any:
    """What may be written: plain JSON data with every secret replaced. None stays None."""
    return None if payload is None else redact(plain(payload))
