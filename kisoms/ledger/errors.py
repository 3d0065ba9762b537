"""Ledger refusals, re-exported from the one error tree in ``kisoms.errors``."""

from kisoms.errors import CorrectionRefused, NumberTaken, RequestNotOpen, StaleOrder

__all__ = ["CorrectionRefused", "NumberTaken", "RequestNotOpen", "StaleOrder"]
