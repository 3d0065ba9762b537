"""The access-token cache shared by every kisoms process on the machine.

KIS notifies the user on every issuance and refuses more than one a minute (EGW00133), so cron's
reconcile, a long-running watch and a trader's submit must share one token: it lives in a 0600 JSON
file in the state dir, keyed by a SHA-256 of the app key (never the key), guarded by a file lock so
two processes never issue at once. A token is reused until ``margin`` seconds before it expires.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable

from kisoms.errors import RateLimited
from kisoms.kis.filestate import locked_state

MIN_ISSUE_INTERVAL = 60.0  # KIS: at most one issuance a minute
EXPIRY_MARGIN = 600.0  # renew ten minutes before expiry
TOKEN_FILE = "kis-token.json"


def key_id(app_key: str) -> str:
    """A stable, non-reversible id for an app key."""
    return hashlib.sha256(app_key.encode()).hexdigest()[:32]


class TokenCache:
    """Access tokens per app key, shared across processes."""

    def __init__(self, state_dir: Path, app_key: str, *, clock: Callable[[], float] = time.time,
                 margin: float = EXPIRY_MARGIN):
        self.path = Path(state_dir) / TOKEN_FILE
        self.slot = key_id(app_key)
        self.clock, self.margin = clock, margin

    def get(self, issue: Callable[[], tuple[str, float]]) -> str:
        """A valid token; ``issue()`` -> (token, expires_in seconds) is called only when none is fresh."""
        with locked_state(self.path) as state:
            entry = _entry(state.get(self.slot))
            now = self.clock()
            if entry["token"] and entry["expires_at"] - self.margin > now:
                return entry["token"]
            if now - entry["issued_at"] < MIN_ISSUE_INTERVAL:
                raise RateLimited("EGW00133", "a token was issued less than a minute ago; KIS refuses another")
            token, expires_in = issue()
            state[self.slot] = {"token": token, "expires_at": now + expires_in, "issued_at": now}
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token``: the broker said it expired, so the next call issues a new one at once.

        (If KIS disagrees and answers EGW00133, that is RateLimited: certainly unsent, retried later.)
        """
        with locked_state(self.path) as state:
            if _entry(state.get(self.slot))["token"] == token:
                state.pop(self.slot, None)


def _entry(raw: object) -> dict:
    """A cache entry with the right types; anything unreadable counts as no token, never issued."""
    entry = raw if isinstance(raw, dict) else {}
    token = entry.get("token")

    def number(key: str) -> float:
        value = entry.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

    return {"token": token if isinstance(token, str) else "", "expires_at": number("expires_at"),
            "issued_at": number("issued_at")}
