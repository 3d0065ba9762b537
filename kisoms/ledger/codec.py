"""Value encoding shared by every table: ISO UTC timestamps and canonical JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any


def to_iso(ts: datetime) -> str:
    """An aware datetime as fixed-width ISO 8601 UTC (sorts as text). Naive datetimes are refused."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts!r}: the ledger stores aware UTC times only")
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    """The inverse of ``to_iso`` (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return str(obj)


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def loads(text: str | None) -> Any:
    """Parse stored JSON (None stays None)."""
    return None if text is None else json.loads(text)


def plain(obj: Any) -> Any:
    """A JSON-safe deep copy made of dict/list/str/int/float/bool/None only."""
    return json.loads(dumps(obj))
