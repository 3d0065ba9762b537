"""``classify`` over every error class in kisoms.errors, written from the documented rules (the docstrings
of ``outcome.classify`` and ``kisoms.errors``, README "exactly once"), not from the code:

- NOT_SENT: certainly never reached the broker, safe to try again: RateLimited (EGW00201) and TokenExpired
  (refused by KIS's gateway before the order is processed); a transport error whose request certainly never
  left (maybe_sent False: connect refused, DNS, connect timeout);
- FAILED: other auth errors (the order was not processed, but retrying cannot help);
- REJECTED: any other broker answer (rt_cd != "0"), KIS's code kept;
- AMBIGUOUS: a transport error after the request may have left, a timeout, a reply that does not parse,
  and anything unexpected after the request left (the safe default: look, never resend blindly).
"""

from __future__ import annotations

import inspect

import httpx
import pytest

from kisoms import errors
from kisoms.engine.outcome import Outcome, classify
from kisoms.errors import Problem
from kisoms.kis.errors_map import api_error, transport_error

NOT_SENT, REJECTED, AMBIGUOUS, FAILED = Outcome.NOT_SENT, Outcome.REJECTED, Outcome.AMBIGUOUS, Outcome.FAILED

# (exception, documented outcome): every class of kisoms.errors appears at least once (checked below).
TABLE = [
    (errors.RateLimited("EGW00201", "초당 거래건수를 초과하였습니다."), NOT_SENT),
    (errors.RateLimited("EGW00133", "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"), NOT_SENT),
    (errors.TokenExpired("EGW00123", "기간이 만료된 token 입니다."), NOT_SENT),
    (errors.AuthError("EGW00103", "유효하지 않은 AppKey입니다."), FAILED),
    (errors.AuthError("EGW00105", "유효하지 않은 AppSecret입니다.", http_status=403), FAILED),
    (errors.BrokerApiError("APBK0919", "주문가능금액을 초과 했습니다"), REJECTED),
    (errors.BrokerApiError("HTTP404", "HTTP 404", http_status=404), REJECTED),
    (errors.BrokerTransportError("connect refused", maybe_sent=False), NOT_SENT),
    (errors.BrokerTransportError("reset after the request left", maybe_sent=True), AMBIGUOUS),
    (errors.BrokerTimeout("read timeout", maybe_sent=True), AMBIGUOUS),
    (errors.BrokerTimeout("connect timeout", maybe_sent=False), NOT_SENT),
    (errors.BrokerProtocolError("reply is not JSON"), AMBIGUOUS),
    (errors.BrokerError("something the broker said"), AMBIGUOUS),
    # Not broker answers at all: something unexpected after the request may have left.
    (errors.KisomsError("unexpected"), AMBIGUOUS),
    (errors.UsageError("bad flag"), AMBIGUOUS),
    (errors.ConfigError("bad key"), AMBIGUOUS),
    (errors.ValidationError([Problem("X", "y")]), AMBIGUOUS),
    (errors.InvalidTransition("SENT", "claim"), AMBIGUOUS),
    (errors.LedgerError("disk I/O error"), AMBIGUOUS),
    (errors.LedgerVersionError("newer"), AMBIGUOUS),
    (errors.LedgerEnvMismatch("belongs to paper"), AMBIGUOUS),
    (errors.LedgerBusy("write lock held"), AMBIGUOUS),
    (errors.NotALedger("not SQLite"), AMBIGUOUS),
    (errors.GuardTripped([Problem("GUARD", "max open orders")]), AMBIGUOUS),
    (errors.AuditChainBroken("edited"), AMBIGUOUS),
    (errors.OrderNotFound("no order 7"), AMBIGUOUS),
    (errors.StaleOrder(1, 2, 3), AMBIGUOUS),
    (errors.CorrectionRefused(1, "backwards"), AMBIGUOUS),
    (errors.RequestNotOpen("settled"), AMBIGUOUS),
    (errors.NumberTaken("0000000001"), AMBIGUOUS),
    (errors.Halted("switch on"), AMBIGUOUS),
    (errors.OutcomeUnknown("maybe"), AMBIGUOUS),
    (errors.AwaitingBooks("not yet"), AMBIGUOUS),
    (errors.TwinPending(1, 2, "UNKNOWN"), AMBIGUOUS),
    (ValueError("Expecting value: line 1 column 1"), AMBIGUOUS),
    (KeyError("ODNO"), AMBIGUOUS),
    (RuntimeError("anything"), AMBIGUOUS),
]


@pytest.mark.parametrize("exc, expected", TABLE, ids=lambda v: type(v).__name__ if isinstance(v, BaseException)
                         else v.value)
def test_classify_follows_the_documented_rules(exc, expected):
    assert classify(exc) is expected


def test_the_table_covers_every_error_class():
    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BaseException) and c.__module__ == errors.__name__}
    assert classes <= {type(exc) for exc, _ in TABLE}


# The same rules, reached through the boundary that builds the errors from what KIS and httpx say.
@pytest.mark.parametrize("msg_cd, expected", [
    ("EGW00201", NOT_SENT), ("EGW00133", NOT_SENT), ("EGW00123", NOT_SENT), ("EGW00121", NOT_SENT),
    ("EGW00102", FAILED), ("EGW00103", FAILED), ("EGW00105", FAILED), ("IGW00002", FAILED),
    ("APBK0919", REJECTED), ("40310000", REJECTED), ("", REJECTED),
])
def test_kis_codes_classify_as_documented(msg_cd, expected):
    assert classify(api_error(msg_cd, "message", 500)) is expected


REQUEST = httpx.Request("POST", "https://openapi.koreainvestment.com:9443/uapi/domestic-stock/v1/trading/order-cash")


@pytest.mark.parametrize("exc, expected", [
    (httpx.ConnectError("refused", request=REQUEST), NOT_SENT),
    (httpx.ConnectTimeout("connect", request=REQUEST), NOT_SENT),
    (httpx.PoolTimeout("pool", request=REQUEST), NOT_SENT),
    (httpx.UnsupportedProtocol("ftp", request=REQUEST), NOT_SENT),
    (httpx.ReadTimeout("read", request=REQUEST), AMBIGUOUS),
    (httpx.WriteTimeout("write", request=REQUEST), AMBIGUOUS),
    (httpx.ReadError("reset", request=REQUEST), AMBIGUOUS),
    (httpx.WriteError("broken pipe", request=REQUEST), AMBIGUOUS),
    (httpx.RemoteProtocolError("peer closed", request=REQUEST), AMBIGUOUS),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.value)
def test_transport_failures_classify_as_documented(exc, expected):
    error = transport_error(exc, "order-cash")
    assert isinstance(error, errors.BrokerTransportError) and error.maybe_sent is (expected is AMBIGUOUS)
    assert isinstance(error, errors.BrokerTimeout) is isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout))
    assert classify(error) is expected
