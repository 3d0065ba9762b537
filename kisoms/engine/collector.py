"""Python's cyclic garbage collector paused around bulk work (a reconcile pass, a burst of notices).

Such work makes and drops many short-lived objects. Reference counting frees them, so the collector finds
nothing new. Its passes still walk every object the process holds, and they grow with the heap, so they
can cost more than the work itself and stall it at random points."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block and on again after it (also when the block raises); left off
    when the caller had it off. Any cycle the block leaves is collected once the collector is back."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
