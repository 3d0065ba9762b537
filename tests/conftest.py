"""Shared test setup: no real keyring, no user data dir."""

import os

os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
for var in ("KISOMS_CONFIG", "KISOMS_LEDGER", "KISOMS_REST_URL", "KISOMS_WS_URL", "KISOMS_ENV",
            "KISOMS_STATE_DIR", "KISOMS_APP_KEY", "KISOMS_APP_SECRET", "KISOMS_CRASH_AT"):
    os.environ.pop(var, None)
