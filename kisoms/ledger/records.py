"""What the ledger hands back besides domain orders and fills: plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OPEN_REQUEST_STATES = ("sending", "unknown")
REQUEST_STATES = ("sending", "unknown", "accepted", "rejected", "not_sent", "not_found")
REQUEST_KINDS = ("new", "modify", "cancel")


@dataclass(frozen=True)
class BrokerNumber:
    """One broker request (a broker_order_map row): a new order, an amend or a cancel.

    ``broker_order_no`` is None until the broker gives the number. ``state`` is one of
    ``REQUEST_STATES``; ``sending`` and ``unknown`` are open (outcome not yet known). ``owner`` is the
    claiming process (``kisoms.ledger.owner``); ``last_attempt_at`` is stamped before each retry.
    """

    id: int
    order_id: int
    kind: str
    state: str
    tr_id: str
    request: dict[str, Any]
    sent_at: datetime
    broker_order_no: str | None = None
    krx_orgno: str | None = None
    order_date: str | None = None
    resolved_at: datetime | None = None
    response: Any = None
    owner: str | None = None
    last_attempt_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REQUEST_STATES

    @property
    def last_activity(self) -> datetime:
        """When the owner last tried to send it (the claim time until a retry)."""
        return self.last_attempt_at or self.sent_at


@dataclass(frozen=True)
class HistoryRow:
    """One entry of an order's timeline: the status after ``event`` (text values, e.g. "FILLED")."""

    history_id: int
    order_id: int
    status: str
    prev_status: str | None
    event: str
    event_ts: datetime
    source: str
    raw_payload: Any = None
    version: int = 0


@dataclass(frozen=True)
class LedgerEvent:
    """One row of the event feed. Ids only grow, without gaps, in commit order."""

    id: int
    ts: datetime
    kind: str
    order_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``kisoms events`` prints)."""
        return {"id": self.id, "ts": self.ts.isoformat(), "kind": self.kind, "order_id": self.order_id,
                "payload": self.payload}

    def summary(self) -> str:
        """One short human line."""
        p = self.payload
        if "status" in p and "prev_status" in p:
            return f"{p.get('prev_status') or '-'} → {p['status']} ({p.get('event', '')})"
        return ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if not isinstance(v, (dict, list)))


@dataclass(frozen=True)
class HaltState:
    """A kill switch while it is on: the global one (``account`` None) or one account's."""

    reason: str
    set_by: str
    set_at: datetime
    account: str | None = None

    @property
    def scope(self) -> str:
        return f"account {self.account}" if self.account else "all accounts"

    def refusal(self) -> str:
        """What a send refused by this switch tells the user."""
        resume = "kisoms resume" + (f" --account {self.account}" if self.account else "")
        return (f"sending for {self.scope} is halted since {self.set_at:%Y-%m-%d %H:%M:%S} UTC by {self.set_by}: "
                f"{self.reason}. Check the broker, then `{resume}`.")
