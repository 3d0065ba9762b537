"""Classifying what happened to a request that may have left: the heart of exactly-once sending."""

from __future__ import annotations

from enum import Enum

from kisoms import errors


class Outcome(str, Enum):
    NOT_SENT = "not_sent"  # certainly never reached the broker: safe to try again
    REJECTED = "rejected"  # the broker answered and refused
    AMBIGUOUS = "ambiguous"  # may have reached the broker: look, never resend blindly
    FAILED = "failed"  # never reached the broker and retrying will not help (e.g. bad credentials)


def classify(exc: BaseException) -> Outcome:
    """Outcome of a failed order request.

    - RateLimited (EGW00201) and TokenExpired are refused by KIS's gateway before the order is
      processed: NOT_SENT.
    - Other auth errors: the order was not processed, but retrying cannot help: FAILED.
    - Any other broker answer (rt_cd != "0"): REJECTED with KIS's code.
    - Transport errors: NOT_SENT only when the request certainly never left (connect refused, DNS,
      connect timeout); otherwise AMBIGUOUS.
    - A reply we could not parse, or anything unexpected after the request left: AMBIGUOUS.
    """
    if isinstance(exc, (errors.RateLimited, errors.TokenExpired)):
        return Outcome.NOT_SENT
    if isinstance(exc, errors.AuthError):
        return Outcome.FAILED
    if isinstance(exc, errors.BrokerApiError):
        return Outcome.REJECTED
    if isinstance(exc, errors.BrokerTransportError):
        return Outcome.AMBIGUOUS if exc.maybe_sent else Outcome.NOT_SENT
    return Outcome.AMBIGUOUS
