"""The KIS REST client: one place for headers, tokens, the rate limit and error translation.

An order request goes out once per call. The only resend is after KIS refused the *token* (EGW00123
and kin): the gateway did not process the order, so the client refreshes the token once and resends
once. Inquiries (GET) are retried on transient faults and EGW00201 with bounded backoff and jitter.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import date
from typing import Any, Callable

import httpx

from kisoms.domain.codes import Side, split_account
from kisoms.errors import BrokerError, BrokerProtocolError, BrokerTransportError, RateLimited, TokenExpired
from kisoms.kis.auth import TokenCache
from kisoms.kis.connection import KisConnection
from kisoms.kis.errors_map import DATA_CHANGED_MARKER, RATE_LIMIT_CODES, check_response, transport_error
from kisoms.kis.models import DailyOrderRow, OrderAck, Page, Quote
from kisoms.kis.ratelimit import RateLimiter
from kisoms.kis.tr_ids import tr_ids
from kisoms.kis.wire import coalesce_writes

log = logging.getLogger(__name__)

TRADING = "/uapi/domestic-stock/v1/trading"
PATHS = {
    "token": "/oauth2/tokenP", "revoke": "/oauth2/revokeP", "approval": "/oauth2/Approval", "hashkey": "/uapi/hashkey",
    "order_cash": f"{TRADING}/order-cash", "rvsecncl": f"{TRADING}/order-rvsecncl",
    "daily_ccld": f"{TRADING}/inquire-daily-ccld", "psbl_rvsecncl": f"{TRADING}/inquire-psbl-rvsecncl",
    "balance": f"{TRADING}/inquire-balance", "psbl_order": f"{TRADING}/inquire-psbl-order",
    "price": "/uapi/domestic-stock/v1/quotations/inquire-price",
}
INQUIRY_ATTEMPTS = 4
TOKEN_MEMO_SECONDS = 30.0  # a token read from the shared file is reused this long (well inside EXPIRY_MARGIN)
MAX_PAGES = 1000
PAGING_RESTARTS = 3
HEADER_SETS_KEPT = 64  # merged header sets kept per client (``_merged``)


def _expires_in(raw: Any) -> float:
    """The token lifetime in seconds (a day when KIS leaves it out)."""
    if raw is None or raw == "":
        return 86400.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise BrokerProtocolError(f"token reply: expires_in is not a number: {raw!r}") from None
    if not 0 < value < float("inf"):
        raise BrokerProtocolError(f"token reply: expires_in is not a positive number: {raw!r}")
    return value


def _order_rows(rows: list[dict]) -> list[DailyOrderRow]:
    """inquire-daily-ccld rows parsed (a row without an order number is not an order)."""
    return [DailyOrderRow.parse(r) for r in rows if str(r.get("odno", "")).strip()]


class KisClient:
    """Synchronous KIS REST client. Pass ``transport`` to swap the network out in tests."""

    def __init__(self, conn: KisConnection, *, transport: httpx.BaseTransport | None = None,
                 token_cache: TokenCache | None = None, rate_limiter: RateLimiter | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.conn = conn
        self.tr = tr_ids(conn.env, conn.tr_id_generation)
        timeout = httpx.Timeout(conn.read_timeout, connect=conn.connect_timeout)
        self.http = httpx.Client(base_url=conn.rest_url, timeout=timeout, transport=transport)
        if transport is None:  # httpx's own transports (a proxy's too): each request leaves in one write
            for default in (self.http._transport, *self.http._mounts.values()):
                coalesce_writes(default)
        self.tokens = token_cache or TokenCache(conn.state_dir, conn.app_key)
        self.limiter = rate_limiter or RateLimiter(conn.state_dir, conn.app_key, conn.rate_per_sec,
                                                          margin=conn.rate_margin)
        self.sleep = sleep
        self._token_memo: tuple[str, float] | None = None  # (token, when read from the shared file)
        self._routes: dict[str, tuple[httpx.URL, httpx.BaseTransport]] = {}
        self._header_sets: dict[tuple, httpx.Headers] = {}
        self._extensions = {"timeout": timeout.as_dict()}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "KisClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ auth

    def _issue_token(self) -> tuple[str, float]:
        body = {"grant_type": "client_credentials", "appkey": self.conn.app_key, "appsecret": self.conn.app_secret}
        data = self._send("POST", PATHS["token"], "token", json_body=body)
        token = data.get("access_token")
        if not token or not isinstance(token, str):
            raise BrokerProtocolError("token reply: access_token is missing or not a string")
        return token, _expires_in(data.get("expires_in"))

    def token(self) -> str:
        """A valid access token (shared with every kisoms process). The shared file is read at most once a
        ``TOKEN_MEMO_SECONDS`` per client: a token it held was valid for ``EXPIRY_MARGIN`` more seconds, and
        one the broker refuses meanwhile (revoked) is forgotten and renewed as before (``_authorized``)."""
        clock = getattr(self.tokens, "clock", None)
        now = clock() if clock is not None else None
        memo = self._token_memo
        if memo is not None and now is not None and 0 <= now - memo[1] < TOKEN_MEMO_SECONDS:
            return memo[0]
        token = self.tokens.get(self._issue_token)
        self._token_memo = None if now is None else (token, now)
        return token

    def _forget_token(self, token: str) -> None:
        """The broker refused ``token``: drop it here and in the shared file."""
        self._token_memo = None
        self.tokens.invalidate(token)

    def issue_approval_key(self) -> str:
        """A WebSocket approval key (body key ``secretkey``, as KIS spells it)."""
        body = {"grant_type": "client_credentials", "appkey": self.conn.app_key, "secretkey": self.conn.app_secret}
        data = self._send("POST", PATHS["approval"], "approval key", json_body=body)
        if not data.get("approval_key"):
            raise BrokerProtocolError("approval reply: approval_key is missing")
        return str(data["approval_key"])

    def hashkey(self, body: dict) -> str:
        data = self._send("POST", PATHS["hashkey"], "hashkey", json_body=body, headers=self._base_headers())
        return str(data.get("HASH", ""))

    # --------------------------------------------------------------- plumbing

    def _base_headers(self) -> dict[str, str]:
        return {"content-type": "application/json; charset=utf-8", "appkey": self.conn.app_key,
                "appsecret": self.conn.app_secret}

    def headers(self, tr_id: str, token: str, tr_cont: str = "") -> dict[str, str]:
        """Every header KIS wants, built in one place."""
        return {**self._base_headers(), "authorization": f"Bearer {token}", "tr_id": tr_id,
                "custtype": self.conn.custtype, "tr_cont": tr_cont}

    def _secrets(self, headers: dict | None) -> tuple[str, ...]:
        """Values never to show in an error: the app key and secret, and the token sent."""
        bearer = (headers or {}).get("authorization", "")
        return self.conn.app_key, self.conn.app_secret, bearer.removeprefix("Bearer ")

    def _send(self, method: str, path: str, what: str, *, json_body: dict | None = None,
              params: dict | None = None, headers: dict | None = None, envelope: bool = False) -> dict:
        content = json.dumps(json_body, ensure_ascii=False).encode() if json_body is not None else None
        headers = headers or {"content-type": "application/json; charset=utf-8"}
        ticket = self._begin()  # the grant as late as possible: right before the request leaves
        try:
            response = self._exchange(method, path, content, params, headers)
        except httpx.HTTPError as exc:
            raise transport_error(exc, what) from None
        finally:
            self._finish(ticket)
        self.last_response_headers = response.headers
        try:
            return check_response(response, what, envelope=envelope, secrets=self._secrets(headers))
        except RateLimited as exc:
            if exc.msg_cd in RATE_LIMIT_CODES and hasattr(self.limiter, "penalize"):
                self.limiter.penalize()  # every process on this app key slows down
            raise

    def _exchange(self, method: str, path: str, content: bytes | None, params: dict | None,
                  headers: dict[str, str]) -> httpx.Response:
        """One request and its whole reply through the client's transport. The request is built here from
        what is worked out once (the URL and transport per path, the headers merged with the client's
        defaults per set of headers, the timeout), not by ``httpx.Client.request``, which merges URL,
        headers and cookies and runs its hooks on every call (~0.3 ms of CPU per order). On the wire the same
        request (the client's default headers included); the client's cookie jar is neither sent nor fed:
        KIS authenticates by headers. httpx raises its own errors here as it does in ``Client.request``."""
        url, transport = self._route(path)
        request = httpx.Request(method, url, params=params, headers=self._merged(headers), content=content,
                                extensions=self._extensions)
        response = transport.handle_request(request)
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        return response

    def _route(self, path: str) -> tuple[httpx.URL, httpx.BaseTransport]:
        """The absolute URL of ``path`` and the transport the client would use for it (a proxy's, when
        the environment names one), worked out once per path."""
        route = self._routes.get(path)
        if route is None:
            url = self.http._merge_url(path)  # (httpx's own join of base_url and path; private, pinned httpx)
            route = self._routes[path] = (url, self.http._transport_for_url(url))
        return route

    def _merged(self, headers: dict[str, str]) -> httpx.Headers:
        """The client's default headers overridden by ``headers``, normalised once per distinct set (a
        handful: one per tr_id, token and continuation flag; a hashkey makes each set new)."""
        key = tuple(headers.items())
        merged = self._header_sets.get(key)
        if merged is None:
            if len(self._header_sets) >= HEADER_SETS_KEPT:
                self._header_sets.clear()
            merged = self._header_sets[key] = httpx.Headers({**self.http.headers, **headers})
        return merged

    def _begin(self) -> float | None:
        """The limiter's grant; a limiter without ``begin`` (a test double) only ``acquire``s."""
        if hasattr(self.limiter, "begin"):
            return self.limiter.begin()
        self.limiter.acquire()
        return None

    def _finish(self, ticket: float | None) -> None:
        if ticket is not None:
            self.limiter.finish(ticket)  # the request reached the server by now, if it ever will

    def _authorized(self, method: str, path: str, tr_id: str, what: str, *, body: dict | None = None,
                    params: dict | None = None, tr_cont: str = "") -> dict:
        """One request with the token; a refused token is refreshed once and the request resent once."""
        for attempt in (1, 2):
            token, headers = self._prepare(tr_id, tr_cont, body)
            try:
                return self._send(method, path, what, json_body=body, params=params, headers=headers,
                                  envelope=True)
            except TokenExpired:
                self._forget_token(token)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _prepare(self, tr_id: str, tr_cont: str, body: dict | None) -> tuple[str, dict[str, str]]:
        """Token and headers (hashkey included). Fails before the request itself has left: any
        transport error here is certainly-not-sent, whatever the token or hashkey call said."""
        try:
            token = self.token()
            headers = self.headers(tr_id, token, tr_cont)
            if body is not None and self.conn.use_hashkey:
                headers["hashkey"] = self.hashkey(body)
        except (BrokerTransportError, BrokerProtocolError) as exc:
            raise BrokerTransportError(f"before sending: {exc}", maybe_sent=False) from None
        return token, headers

    def _inquire(self, path: str, tr_id: str, what: str, params: dict, tr_cont: str = "") -> dict:
        """A GET, retried on what certainly did not reach KIS or did no harm (inquiries change nothing)."""
        for attempt in range(1, INQUIRY_ATTEMPTS + 1):
            try:
                return self._authorized("GET", path, tr_id, what, params=params, tr_cont=tr_cont)
            except (RateLimited, BrokerTransportError) as exc:
                if attempt == INQUIRY_ATTEMPTS:
                    raise
                delay = min(2.0, 0.1 * 2 ** attempt) * random.uniform(0.5, 1.0)
                log.info("%s: %s; retrying in %.2fs", what, exc, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- orders

    def order_cash(self, account: str, symbol: str, side: Side, ord_dvsn: str, qty: int, price_str: str, *,
                   exchange: str = "KRX", cndt_pric: str = "") -> OrderAck:
        """Place a cash order. Goes out once (see the module docstring)."""
        cano, prdt = split_account(account)
        tr_id = self.tr.buy if side is Side.BUY else self.tr.sell
        body = {"CANO": cano, "ACNT_PRDT_CD": prdt, "PDNO": symbol, "ORD_DVSN": ord_dvsn, "ORD_QTY": str(qty),
                "ORD_UNPR": price_str, "EXCG_ID_DVSN_CD": exchange, "SLL_TYPE": "01" if side is Side.SELL else "",
                "CNDT_PRIC": cndt_pric}
        return OrderAck.parse(self._authorized("POST", PATHS["order_cash"], tr_id, "order-cash", body=body), tr_id)

    def order_rvsecncl(self, account: str, krx_orgno: str, orgn_odno: str, ord_dvsn: str, kind: str, qty: int,
                       price_str: str, all_qty: bool, *, exchange: str = "KRX") -> OrderAck:
        """Amend (``kind="amend"``) or cancel an order; KIS answers with a new order number."""
        cano, prdt = split_account(account)
        body = {"CANO": cano, "ACNT_PRDT_CD": prdt, "KRX_FWDG_ORD_ORGNO": krx_orgno, "ORGN_ODNO": orgn_odno,
                "ORD_DVSN": ord_dvsn, "RVSE_CNCL_DVSN_CD": "01" if kind == "amend" else "02",
                "ORD_QTY": str(qty), "ORD_UNPR": price_str, "QTY_ALL_ORD_YN": "Y" if all_qty else "N",
                "EXCG_ID_DVSN_CD": exchange, "CNDT_PRIC": ""}
        data = self._authorized("POST", PATHS["rvsecncl"], self.tr.rvsecncl, "order-rvsecncl", body=body)
        return OrderAck.parse(data, self.tr.rvsecncl)

    # -------------------------------------------------------------- inquiries

    def inquire_price(self, symbol: str) -> Quote:
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": symbol}
        return Quote.parse(symbol, self._inquire(PATHS["price"], self.tr.price, f"inquire-price {symbol}", params))

    def _ccld_params(self, account: str, start: date, end: date, symbol: str, odno: str, side: Side | None,
                     ccld: str, exchange: str) -> dict:
        cano, prdt = split_account(account)
        return {"CANO": cano, "ACNT_PRDT_CD": prdt, "INQR_STRT_DT": start.strftime("%Y%m%d"),
                "INQR_END_DT": end.strftime("%Y%m%d"), "SLL_BUY_DVSN_CD": side.kis_code if side else "00",
                "INQR_DVSN": "01", "PDNO": symbol, "CCLD_DVSN": ccld, "ORD_GNO_BRNO": "", "ODNO": odno,
                "INQR_DVSN_3": "00", "INQR_DVSN_1": "", "EXCG_ID_DVSN_CD": exchange,
                "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}

    def _page(self, path: str, tr_id: str, what: str, params: dict, tr_cont: str) -> Page:
        data = self._inquire(path, tr_id, what, params, tr_cont)
        rows = data.get("output1", data.get("output", []))
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise BrokerProtocolError(f"{what}: output1 is not a list of objects")
        more = self.last_response_headers.get("tr_cont", "") in ("F", "M")
        # The cursors go back exactly as KIS sent them, padding included (as KIS's samples and python-kis do).
        return Page(rows, data.get("output2"), more, str(data.get("ctx_area_fk100", "")),
                    str(data.get("ctx_area_nk100", "")))

    def _all_pages(self, path: str, tr_id: str, what: str, params: dict,
                   convert: Callable[[list[dict]], list] | None = None,
                   on_page: Callable[[list, int], None] | None = None) -> list:
        """Every row, following tr_cont; restarts from page one if KIS says the data changed meanwhile.
        ``convert`` turns each page's rows into what is returned, as the page arrives (while the rate
        limit spaces the next request, not after the last one). ``on_page(rows, number)`` is called with
        each page's (converted) rows as it arrives, numbered from 0 (0 again after a restart)."""
        for _ in range(PAGING_RESTARTS):
            try:
                return self._pages_once(path, tr_id, what, dict(params), convert, on_page)
            except BrokerError as exc:
                if DATA_CHANGED_MARKER not in str(exc):
                    raise
                log.info("%s: data changed during paging; starting over", what)
        return self._pages_once(path, tr_id, what, dict(params), convert, on_page)

    def _pages_once(self, path: str, tr_id: str, what: str, params: dict,
                    convert: Callable[[list[dict]], list] | None,
                    on_page: Callable[[list, int], None] | None = None) -> list:
        rows: list = []
        tr_cont = ""
        for number in range(MAX_PAGES):
            page = self._page(path, tr_id, what, params, tr_cont)
            converted = convert(page.rows) if convert else page.rows
            rows.extend(converted)
            if on_page is not None:
                on_page(converted, number)
            if not page.more:
                return rows
            if (page.fk100, page.nk100) == (params["CTX_AREA_FK100"], params["CTX_AREA_NK100"]):
                raise BrokerProtocolError(f"{what}: tr_cont says more pages follow but CTX_AREA_NK100 "
                                          f"did not advance ({page.nk100!r})")
            params.update(CTX_AREA_FK100=page.fk100, CTX_AREA_NK100=page.nk100)
            tr_cont = "N"
        raise BrokerProtocolError(f"{what}: more than {MAX_PAGES} pages")

    def inquire_daily_ccld(self, account: str, start: date, end: date, *, symbol: str = "", odno: str = "",
                           side: Side | None = None, ccld: str = "00", exchange: str = "ALL",
                           on_page: Callable[[list, int], None] | None = None) -> list[DailyOrderRow]:
        """Every order, amend and cancel row in the date range (all pages). ``on_page``: see ``_all_pages``
        (work the caller does between pages, while the rate limit spaces the next request)."""
        params = self._ccld_params(account, start, end, symbol, odno, side, ccld, exchange)
        return self._all_pages(PATHS["daily_ccld"], self.tr.daily_ccld, "inquire-daily-ccld", params, _order_rows,
                               on_page)

    def inquire_psbl_rvsecncl(self, account: str) -> list[dict[str, Any]]:
        """Orders that can still be amended or cancelled (real only; paper does not support it)."""
        if self.tr.psbl_rvsecncl is None:
            raise BrokerProtocolError(f"inquire-psbl-rvsecncl is not available in env {self.conn.env}")
        cano, prdt = split_account(account)
        params = {"CANO": cano, "ACNT_PRDT_CD": prdt, "CTX_AREA_FK100": "", "CTX_AREA_NK100": "",
                  "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"}
        return self._all_pages(PATHS["psbl_rvsecncl"], self.tr.psbl_rvsecncl, "inquire-psbl-rvsecncl", params)

    def inquire_balance(self, account: str) -> dict[str, Any]:
        cano, prdt = split_account(account)
        params = {"CANO": cano, "ACNT_PRDT_CD": prdt, "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
                  "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
                  "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        return self._inquire(PATHS["balance"], self.tr.balance, "inquire-balance", params)

    def inquire_psbl_order(self, account: str, symbol: str, ord_dvsn: str, price: int) -> dict[str, Any]:
        cano, prdt = split_account(account)
        params = {"CANO": cano, "ACNT_PRDT_CD": prdt, "PDNO": symbol, "ORD_UNPR": str(price), "ORD_DVSN": ord_dvsn,
                  "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}
        return self._inquire(PATHS["psbl_order"], self.tr.psbl_order, "inquire-psbl-order", params)
