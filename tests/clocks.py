"""Fixed dates for tests: every process of a test (the simulator, kisoms, subprocesses) runs shifted to one.

The sim env's clock and the simulator both read ``KISOMS_SIM_CLOCK_SHIFT`` (seconds added to the wall clock),
so no test depends on the day it runs. Tests marked ``dates`` run once per anchor in ``ANCHORS``; all others
run at ``DEFAULT`` (or at ``KISOMS_TEST_AT``, an ISO time with an offset, to replay the suite on any date).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

SHIFT_VAR = "KISOMS_SIM_CLOCK_SHIFT"
KST = timezone(timedelta(hours=9), "KST")

ANCHORS = {
    "weekday": datetime(2026, 11, 25, 10, 0, 0, tzinfo=KST),                 # a Wednesday, market open
    "monday-after-holiday": datetime(2026, 12, 28, 9, 0, 1, tzinfo=KST),     # after Christmas (Fri)
    "kst-midnight": datetime(2026, 11, 26, 23, 59, 59, tzinfo=KST),           # the KST date turns mid-test
    "new-years-eve": datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=KST),  # and the year
}
DEFAULT = ANCHORS["weekday"]
# A flow that needs the KRX session (an order placed, then filled or amended, then reconciled) never spans
# midnight on a real exchange: ``dates(session_only=True)`` runs it at the anchors inside a session only.
SESSION_ANCHORS = {name: ANCHORS[name] for name in ("weekday", "monday-after-holiday")}


def default_anchor() -> datetime:
    """``KISOMS_TEST_AT`` when set, else the default weekday."""
    raw = os.environ.get("KISOMS_TEST_AT")
    return datetime.fromisoformat(raw) if raw else DEFAULT


def shift_to(anchor: datetime) -> str:
    """The shift (seconds, as the env var holds it) that makes the wall clock read ``anchor`` now."""
    return repr(anchor.timestamp() - time.time())


def now() -> datetime:
    """The tests' current time (UTC), as every shifted clock reads it."""
    return datetime.now(timezone.utc) + timedelta(seconds=float(os.environ.get(SHIFT_VAR) or 0))


def kst_today() -> str:
    """YYYYMMDD of the tests' current KST date."""
    return now().astimezone(KST).strftime("%Y%m%d")
