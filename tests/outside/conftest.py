"""Outside clients read the wall clock themselves (python-kis renews a token whose expiry, in the venue's KST
time, has passed by its own clock), so their simulator runs on the wall clock too: these tests are the one
place the suite's fixed date (tests/clocks.py) cannot reach, and they check nothing date-specific."""

from __future__ import annotations

import pytest

import clocks


@pytest.fixture(autouse=True)
def kst_anchor(monkeypatch):
    """Overrides the suite's anchor: no shift, the venue and the client agree on the wall clock."""
    monkeypatch.delenv(clocks.SHIFT_VAR, raising=False)
