"""Ledger-specific refusals (subclasses of ``kisoms.errors.LedgerError``).

Kept here until the lead moves them into ``kisoms.errors``.
"""

from __future__ import annotations

from kisoms.errors import LedgerError


class StaleOrder(LedgerError):
    """The order changed since the caller read it (``expected_version`` did not match)."""

    def __init__(self, order_id: int, expected: int, actual: int):
        self.order_id, self.expected, self.actual = order_id, expected, actual
        super().__init__(f"order {order_id} is at version {actual}, caller expected {expected}; read it again")


class CorrectionRefused(LedgerError):
    """Quantities would go backwards (or the order quantity would change): a discrepancy, not a fix."""

    def __init__(self, order_id: int, problem: str):
        self.order_id, self.problem = order_id, problem
        super().__init__(f"order {order_id}: {problem}; not applied")


class RequestNotOpen(LedgerError):
    """A broker request (broker_order_map row) is missing or was already settled."""
