"""Translating what httpx and KIS say into the kisoms error tree, at the boundary and nowhere else."""

from __future__ import annotations

from typing import Any, Iterable

import httpx

from kisoms.domain.redact import MASK, redact_text
from kisoms.errors import (AuthError, BrokerApiError, BrokerError, BrokerProtocolError, BrokerTimeout,
                           BrokerTransportError, RateLimited, TokenExpired)

RATE_LIMIT_CODES = frozenset({"EGW00201"})
TOKEN_TOO_OFTEN_CODES = frozenset({"EGW00133"})
TOKEN_EXPIRED_CODES = frozenset({"EGW00123", "EGW00121"})  # EGW00121 invalid token (unconfirmed)
AUTH_CODES = frozenset({"EGW00102", "EGW00103", "EGW00105", "IGW00002"})  # bad app key/secret (unconfirmed)
PRICE_LIMIT_CODES = frozenset({"APBK0507"})  # an order price outside today's band (unconfirmed)
DATA_CHANGED_MARKER = "조회이후에 자료가 변경"

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def transport_error(exc: httpx.HTTPError, what: str) -> BrokerError:
    """An httpx failure: certainly unsent only if the connection was never made."""
    if isinstance(exc, _NOT_SENT):
        return BrokerTransportError(f"{what}: could not connect ({type(exc).__name__})", maybe_sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return BrokerTimeout(f"{what}: no answer in time ({type(exc).__name__}); the request may have reached KIS",
                             maybe_sent=True)
    return BrokerTransportError(f"{what}: connection failed after the request left ({type(exc).__name__}); "
                                "it may have reached KIS", maybe_sent=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret value, bearer token and JWT replaced by ``***``."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return redact_text(text)


def api_error(msg_cd: str, message: str, http_status: int | None) -> BrokerApiError:
    """The BrokerApiError subclass for a KIS code."""
    if msg_cd in RATE_LIMIT_CODES or msg_cd in TOKEN_TOO_OFTEN_CODES:
        return RateLimited(msg_cd, message, http_status=http_status)
    if msg_cd in TOKEN_EXPIRED_CODES:
        return TokenExpired(msg_cd, message, http_status=http_status)
    if msg_cd in AUTH_CODES:
        return AuthError(msg_cd, message, http_status=http_status)
    return BrokerApiError(msg_cd, message, http_status=http_status)


def _gateway_error(body: Any, status: int, secrets: Iterable[str]) -> BrokerApiError | None:
    if not isinstance(body, dict):
        return None
    if "error_code" in body:  # token endpoints
        return api_error(str(body["error_code"]), scrub(str(body.get("error_description", "")), secrets), status)
    rt_cd = body.get("rt_cd")
    if rt_cd is not None and str(rt_cd).strip() != "0":
        message = scrub(str(body.get("msg1") or "").strip(), secrets) or f"rt_cd {rt_cd!r} without a message"
        return api_error(str(body.get("msg_cd") or "").strip(), message, status)
    return None


_TIMEOUT_STATUSES = frozenset({408, 499})  # a proxy gave up waiting: the request may have gone on to KIS


def check_response(response: httpx.Response, what: str, *, envelope: bool = False,
                   secrets: Iterable[str] = ()) -> dict:
    """The JSON body of a successful reply, or the right error.

    ``envelope``: the reply must carry KIS's ``rt_cd`` (every /uapi call; not the token endpoints).
    ``secrets``: values masked in any message taken from the reply (KIS may echo what it was sent).
    """
    body = _json(response)
    error = _gateway_error(body, response.status_code, tuple(secrets))
    if error is not None and response.status_code >= 500 and type(error) is BrokerApiError:
        # A server error with a KIS body (e.g. EGW00002) after the request was forwarded: not a reject.
        raise BrokerTransportError(f"{what}: HTTP {response.status_code} [{error.msg_cd}] {error.message}; "
                                   "the request may have reached KIS", maybe_sent=True)
    if error is not None:
        raise error
    if response.status_code >= 500 or response.status_code in _TIMEOUT_STATUSES:
        raise BrokerTransportError(f"{what}: HTTP {response.status_code} without a KIS answer; "
                                   "the request may have reached KIS", maybe_sent=True)
    if response.status_code >= 400:
        raise BrokerApiError(f"HTTP{response.status_code}", f"{what}: HTTP {response.status_code}",
                             http_status=response.status_code)
    if not isinstance(body, dict):
        kind = "not JSON" if body is None else f"JSON {type(body).__name__}, not an object"
        raise BrokerProtocolError(f"{what}: reply is {kind} (HTTP {response.status_code}, "
                                  f"content-type {response.headers.get('content-type', 'none')!r})")
    if envelope and "rt_cd" not in body:
        raise BrokerProtocolError(f"{what}: reply has no rt_cd (keys: {', '.join(sorted(body)[:10]) or 'none'})")
    return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
