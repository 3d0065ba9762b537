"""The SQLite ledger: the durable record of every order, request, fill, event and audit entry.

Only this package speaks SQL. See ``kisoms.ledger.ledger`` for the API and the event kinds.
"""

from kisoms.ledger.errors import CorrectionRefused, RequestNotOpen, StaleOrder
from kisoms.ledger.schema import LedgerIdentity
from kisoms.ledger.ledger import Ledger, default_ledger_path, utc_now
from kisoms.ledger.records import BrokerNumber, HaltState, HistoryRow, LedgerEvent

__all__ = [
    "BrokerNumber", "CorrectionRefused", "HaltState", "HistoryRow", "Ledger", "LedgerEvent", "LedgerIdentity",
    "RequestNotOpen", "StaleOrder", "default_ledger_path", "utc_now",
]
