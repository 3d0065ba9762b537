"""The one door every payload goes through before it is stored: JSON-normalised, then redacted."""

from __future__ import annotations

from typing import Any

from kisoms.ledger.codec import plain

from kisoms.domain.redact import redact


def clean(payload: Any) -> Any:
    """What may be written: plain JSON data with every secret replaced. None stays None."""
    return None if payload is None else redact(plain(payload))
