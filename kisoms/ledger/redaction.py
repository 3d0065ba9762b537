"""The one door every payload goes through before it is stored: JSON-normalised, then redacted."""

from __future__ import annotations

from typing import Any

from kisoms.domain.redact import SECRET_KEYS, SECRET_SUFFIXES, redact
from kisoms.ledger.codec import dumps, plain

# Every text ``redact`` could change contains one of these once lower-cased without "-" and "_": a secret
# key's name (keys are compared so normalised) or the start of a bearer token or a JWT.
_NEEDLES = tuple(sorted(SECRET_KEYS | set(SECRET_SUFFIXES) | {"bearer", "eyj"}))


def clean(payload: Any) -> Any:
    """What may be written: plain JSON data with every secret replaced. None stays None."""
    return None if payload is None else redact(plain(payload))


def _may_hold_secrets(text: str) -> bool:
    folded = text.lower().replace("-", "").replace("_", "")
    return any(needle in folded for needle in _NEEDLES)


def clean_text(payload: Any) -> str | None:
    """``dumps(clean(payload))`` (None stays None), in one pass when the serialised payload has nothing
    ``redact`` would change (no secret key name, no bearer token, no JWT anywhere in it)."""
    if payload is None:
        return None
    text = dumps(payload)
    return dumps(clean(payload)) if _may_hold_secrets(text) else text
