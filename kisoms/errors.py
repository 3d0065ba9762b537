"""The one error tree of kisoms.

Every failure that crosses a module boundary is one of these. The CLI maps them to exit codes in one
place (``kisoms.cli.exit_codes``); nothing else decides how a failure ends a process.

::

    KisomsError
    ├── UsageError                  bad flags, intent files or arguments          (exit 2)
    ├── ConfigError                 bad or missing configuration                   (exit 2)
    ├── ValidationError             the order breaks a rule; .problems lists each  (exit 3)
    │   └── GuardTripped            an account guard refused it (recorded: REJECTED, GUARD:...)
    ├── InvalidTransition           a state change the order state machine forbids (exit 10)
    ├── LedgerError                 the SQLite ledger failed                       (exit 10)
    │   ├── LedgerVersionError      the file was written by a newer kisoms         (exit 2)
    │   ├── LedgerEnvMismatch       the file belongs to another env or account set (exit 2)
    │   ├── LedgerBusy              another process held the write lock too long; retry (exit 11)
    │   ├── NotALedger              the ledger path holds some other file          (exit 10)
    │   ├── AuditChainBroken        an audit row was edited or deleted             (exit 10)
    │   ├── OrderNotFound           no order with that id                          (exit 2)
    │   ├── StaleOrder              the order changed since it was read            (exit 10)
    │   ├── CorrectionRefused       broker truth would make quantities go backwards (exit 10)
    │   ├── RequestNotOpen          a broker request is missing or already settled (exit 10)
    │   └── NumberTaken             a broker number is already mapped to another request (exit 10)
    ├── Halted                      the kill switch is on; nothing is sent         (exit 5)
    ├── OutcomeUnknown              a request may have reached the broker          (exit 5)
    │   ├── AwaitingBooks           evidence it did, not yet in the books: look again soon
    │   └── TwinPending             a look-alike order is unresolved: this one waits
    └── BrokerError                 anything the broker or the way to it said      (exit 6)
        ├── BrokerTransportError    connection failed; .maybe_sent says if it may have left
        │   └── BrokerTimeout       no answer in time
        ├── BrokerApiError          rt_cd != "0": .msg_cd, .message              (exit 4)
        │   ├── AuthError           token or app key refused
        │   │   └── TokenExpired    EGW00123 and kin: refresh once and retry
        │   └── RateLimited         EGW00201 (or EGW00133 for tokens)
        └── BrokerProtocolError     a reply or frame that does not parse; .detail names what
"""

from __future__ import annotations

from dataclasses import dataclass


class KisomsError(Exception):
    """Root of every error kisoms raises on purpose."""


class UsageError(KisomsError):
    """Bad command-line input, intent file or argument."""


class ConfigError(KisomsError):
    """Bad or missing configuration; the message names the key and the problem."""


@dataclass(frozen=True)
class Problem:
    """One validation failure: a machine-readable code and a human message."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ValidationError(KisomsError):
    """The order breaks one or more rules; ``problems`` lists each of them."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid order")

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]


class GuardTripped(ValidationError):
    """An account guard (max orders per minute, open orders, notional per day, position) refused a new
    order inside its claim; the order was recorded REJECTED with reject code ``GUARD:<codes>``."""


class InvalidTransition(KisomsError):
    """The order state machine does not allow this (state, event) pair."""

    def __init__(self, state: str, event: str, detail: str = ""):
        self.state = state
        self.event = event
        msg = f"illegal transition: {event} in state {state}"
        super().__init__(f"{msg} ({detail})" if detail else msg)


class LedgerError(KisomsError):
    """The SQLite ledger failed or refused an operation."""


class LedgerVersionError(LedgerError):
    """The ledger file comes from a newer kisoms; it is left untouched."""


class LedgerEnvMismatch(LedgerError):
    """The ledger was created for another environment (or an unrelated account set); it is left untouched."""


class LedgerBusy(LedgerError):
    """Another process held the ledger's write lock past the busy timeout. The change was not written: retry."""
class NotALedger(LedgerError):
    """The ledger path holds a file that is not an SQLite database: it is left untouched."""


class AuditChainBroken(LedgerError):
    """An audit row was edited, inserted or deleted after the fact."""


class OrderNotFound(LedgerError):
    """No order with the given id."""


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


class NumberTaken(LedgerError):
    """The broker number a reply (or row) gives a request is already mapped to another request."""


class Halted(KisomsError):
    """The kill switch is on (set by hand or by unresolved ambiguity); nothing is sent."""


class OutcomeUnknown(KisomsError):
    """A request may have reached the broker and its outcome could not be established."""


class AwaitingBooks(OutcomeUnknown):
    """Not settled yet, but not a discrepancy either: the lookup window is still open, or an execution
    notice shows the order exists while the books do not list it yet. Nothing is resent; look again soon."""


class TwinPending(OutcomeUnknown):
    """Another order a broker lookup could confuse with this one (same account, symbol, side and quantity;
    same price, or either without one) is SENDING or UNKNOWN. Sending this one now would make the lookup
    ambiguous, so its claim is refused (nothing written)."""

    def __init__(self, order_id: int, twin_id: int, twin_status: str):
        self.order_id, self.twin_id = order_id, twin_id
        super().__init__(f"order {order_id} waits: order {twin_id}, which a broker lookup could take for it, is still "
                         f"{twin_status}; "
                         "run `kisoms reconcile` and submit again")


class BrokerError(KisomsError):
    """Anything the broker, or the way to it, said or failed to say."""


class BrokerTransportError(BrokerError):
    """The connection failed. ``maybe_sent`` is True when the request may have left."""

    def __init__(self, message: str, *, maybe_sent: bool):
        self.maybe_sent = maybe_sent
        super().__init__(message)


class BrokerTimeout(BrokerTransportError):
    """No answer in time."""


class BrokerApiError(BrokerError):
    """The broker answered with a failure code (rt_cd != "0", or a gateway error)."""

    def __init__(self, msg_cd: str, message: str, *, http_status: int | None = None):
        self.msg_cd = msg_cd
        self.message = message
        self.http_status = http_status
        super().__init__(f"[{msg_cd}] {message}")


class AuthError(BrokerApiError):
    """The token, app key or approval key was refused."""


class TokenExpired(AuthError):
    """The access token expired or is invalid: refresh once and retry."""


class RateLimited(BrokerApiError):
    """The broker's rate limit was hit (EGW00201) or a token was asked for too often (EGW00133)."""


class BrokerProtocolError(BrokerError):
    """A reply or WebSocket frame that does not parse; ``detail`` names what was wrong."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)
