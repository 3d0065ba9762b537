"""Named crash points for crash tests: ``KISOMS_CRASH_AT=after_claim`` kills the process right there.

The process dies with ``os._exit`` (no cleanup, no flush), as close to ``kill -9`` as Python gets.
Points: after_create, after_claim, after_send (reply received, not recorded), after_ambiguous,
after_modify_claim, after_cancel_claim, watch_after_notice (a batch of notices committed, nothing printed yet),
watch_in_fill_batch (a burst of plain fills written at once, its transaction not yet committed).
"""

from __future__ import annotations

import os

CRASH_ENV = "KISOMS_CRASH_AT"
CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    """Die here if the environment asks for it."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT_CODE)


def armed(name: str) -> bool:
    """Whether the environment asks to die at ``name`` (a path may then keep that point reachable)."""
    return os.environ.get(CRASH_ENV) == name
