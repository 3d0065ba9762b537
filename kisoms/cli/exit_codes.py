"""Exit codes, decided in one place. The README's table is generated from the same meanings."""

from __future__ import annotations

from enum import IntEnum

from kisoms import errors


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: kisoms failed in a way it did not expect
    USAGE = 2  # bad flags, intent file, config, ledger file from a newer kisoms or of another env
    VALIDATION = 3  # the order breaks a rule and was not sent
    BROKER_REJECT = 4  # the broker answered and refused
    UNKNOWN_OR_HALTED = 5  # outcome unknown, or the kill switch is on: check before trading on
    BROKER_UNREACHABLE = 6  # the broker could not be reached; nothing was sent
    RECONCILE_CORRECTED = 7  # reconcile: the ledger was corrected to the broker's books
    LEDGER = 10  # the ledger failed or its audit chain is broken
    LEDGER_BUSY = 11  # another process held the ledger's write lock too long; nothing written: retry
    INTERRUPTED = 130  # Ctrl-C (SIGINT): stopped; nothing is left half-written
    READER_GONE = 141  # stdout's reader closed it (`| head`): stopped quietly; what was done stands


_MAP: list[tuple[type[BaseException], ExitCode]] = [
    (errors.UsageError, ExitCode.USAGE),
    (errors.ConfigError, ExitCode.USAGE),
    (errors.LedgerVersionError, ExitCode.USAGE),
    (errors.LedgerEnvMismatch, ExitCode.USAGE),
    (errors.LedgerBusy, ExitCode.LEDGER_BUSY),
    (errors.OrderNotFound, ExitCode.USAGE),
    (errors.ValidationError, ExitCode.VALIDATION),
    (errors.Halted, ExitCode.UNKNOWN_OR_HALTED),
    (errors.OutcomeUnknown, ExitCode.UNKNOWN_OR_HALTED),
    (errors.BrokerApiError, ExitCode.BROKER_REJECT),
    (errors.BrokerError, ExitCode.BROKER_UNREACHABLE),
    (errors.LedgerError, ExitCode.LEDGER),
    (errors.InvalidTransition, ExitCode.LEDGER),
]


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code of an error (first match in ``_MAP``, most specific first)."""
    for cls, code in _MAP:
        if isinstance(exc, cls):
            return code
    return ExitCode.INTERNAL
