"""Shared test setup: no real keyring, no user data dir, and a fixed date for every process (see clocks.py)."""

import logging
import os

import pytest

import clocks

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
for var in ("KISOMS_CONFIG", "KISOMS_LEDGER", "KISOMS_REST_URL", "KISOMS_WS_URL", "KISOMS_ENV",
            "KISOMS_STATE_DIR", "KISOMS_APP_KEY", "KISOMS_APP_SECRET", "KISOMS_CRASH_AT"):
    os.environ.pop(var, None)


def pytest_configure(config):
    config.addinivalue_line("markers", "dates(session_only=False): run once per fixed date in tests/clocks.py ANCHORS")


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("dates")
    if marker:
        anchors = clocks.SESSION_ANCHORS if marker.kwargs.get("session_only") else clocks.ANCHORS
        metafunc.parametrize("kst_anchor", list(anchors.values()), ids=list(anchors), indirect=True)


@pytest.fixture(autouse=True)
def kst_anchor(request, monkeypatch):
    """Every test runs at a fixed date: the default, or each of ``ANCHORS`` for tests marked ``dates``."""
    anchor = getattr(request, "param", None) or clocks.default_anchor()
    monkeypatch.setenv(clocks.SHIFT_VAR, clocks.shift_to(anchor))
    return anchor


class _DestroyedTasks(logging.Handler):
    """asyncio's "Task was destroyed but it is pending!" means a server was torn down mid-request."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record):
        if "Task was destroyed" in record.getMessage():
            self.seen.append(record.getMessage().splitlines()[0])


_destroyed = _DestroyedTasks()
logging.getLogger("asyncio").addHandler(_destroyed)


def pytest_sessionfinish(session, exitstatus):
    import gc

    gc.collect()
    if _destroyed.seen and exitstatus == 0:
        print(f"\nFAILED: {len(_destroyed.seen)} asyncio task(s) destroyed while pending (a server stopped mid-request)")
        session.exitstatus = 1
