"""kisoms: an order management and execution system for the KIS Open API (domestic stocks).

``oms = kisoms.connect()`` opens the Python API (:mod:`kisoms.api`). Importing kisoms stays cheap: the
API and the engine load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kisoms.api import OMS, Trade, connect

_LAZY = {"connect", "OMS", "Trade"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from kisoms import api

        return getattr(api, name)
    raise AttributeError(f"module 'kisoms' has no attribute {name!r}")


__all__ = ["OMS", "Trade", "connect", "__version__"]
