"""The simulator's KIS REST surface: paths, headers, tr_ids, envelopes and errors as KIS has them."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from kisoms.domain.codes import Side
from kisoms.sim import codes, views
from kisoms.sim.host import SimHost
from kisoms.sim.venue import ORGNO, Reject

TRADING = "/uapi/domestic-stock/v1/trading"
TR_IDS: dict[str, dict[str, str]] = {  # path -> tr_id -> meaning
    f"{TRADING}/order-cash": {"TTTC0012U": "buy", "VTTC0012U": "buy", "TTTC0802U": "buy", "VTTC0802U": "buy",
                              "TTTC0011U": "sell", "VTTC0011U": "sell", "TTTC0801U": "sell", "VTTC0801U": "sell"},
    f"{TRADING}/order-rvsecncl": {t: "rvsecncl" for t in ("TTTC0013U", "VTTC0013U", "TTTC0803U", "VTTC0803U")},
    f"{TRADING}/inquire-daily-ccld": {t: "ccld" for t in ("TTTC0081R", "VTTC0081R", "CTSC9215R", "VTSC9215R",
                                                          "TTTC8001R", "VTTC8001R", "CTSC9115R", "VTSC9115R")},
    f"{TRADING}/inquire-psbl-rvsecncl": {"TTTC0084R": "psbl", "TTTC8036R": "psbl"},
    f"{TRADING}/inquire-balance": {"TTTC8434R": "balance", "VTTC8434R": "balance"},
    f"{TRADING}/inquire-psbl-order": {"TTTC8908R": "psbl_order", "VTTC8908R": "psbl_order"},
    "/uapi/domestic-stock/v1/quotations/inquire-price": {"FHKST01010100": "price"},
    "/uapi/domestic-stock/v1/quotations/search-info": {"CTPF1604R": "search_info"},
}
# custtype is not required: KIS takes a request without it as an individual's ("P"), as python-kis and KIS's
# own Postman samples rely on.
REQUIRED_HEADERS = ("authorization", "appkey", "appsecret", "tr_id")
ENV_FREE_TR_IDS = ("FHK", "CTPF")  # quotations and product info: the same on both hosts
TOKEN_REUSE_SECONDS = 6 * 3600  # a token asked for again within 6 hours of issuance is the same token


class KisReply(Exception):
    """Stop handling and answer with KIS's error shape."""

    def __init__(self, code: tuple[str, str, str], status: int = 200):
        self.code, self.status = code, status


def envelope(code: tuple[str, str, str], **outputs: Any) -> dict:
    return {"rt_cd": code[0], "msg_cd": code[1], "msg1": code[2], **outputs}


def kis_json(data: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status,
                        content_type="application/json", charset="utf-8", headers=headers)


def token_error(code: str, description: str) -> web.Response:
    """The /oauth2 endpoints' error shape: ``error_code`` / ``error_description``, HTTP 403."""
    return kis_json({"error_description": description, "error_code": code}, 403)


def env_allows(env: str, tr_id: str) -> bool:
    if env == "any" or tr_id.startswith(ENV_FREE_TR_IDS):
        return True
    return tr_id.startswith("V") == (env == "paper")


HOST_ENV = web.AppKey("host_env", str)


def kis_path(request: web.Request) -> str:
    """The request's path with a doubled leading slash made single."""
    return "/" + request.path.lstrip("/")


def host_env(request: web.Request) -> str:
    """The env of the host the request came to: "real" or "paper" (split), else the scenario's env."""
    return request.app[HOST_ENV]


def query(request: web.Request) -> CIMultiDict:
    """Query parameters by name in either case (KIS takes ``fid_input_iscd`` as ``FID_INPUT_ISCD``)."""
    return CIMultiDict(request.query)


async def json_body(request: web.Request) -> dict:
    """The JSON body with its keys upper-cased (KIS reads body keys in either case)."""
    try:
        data = json.loads(await request.text() or "{}")
    except ValueError:
        raise KisReply(codes.BAD_BODY, 400) from None
    if not isinstance(data, dict):
        raise KisReply(codes.BAD_BODY, 400)
    return {str(k).upper(): v for k, v in data.items()}


def field(body: dict, key: str) -> str:
    value = body.get(key)
    if value is None or not isinstance(value, str):
        raise KisReply((codes.BAD_BODY[0], codes.BAD_BODY[1], f"{codes.BAD_BODY[2]} ({key})"))
    return value.strip()


def order_number(text: str) -> str:
    """An order number as the books keep it (10 digits): KIS's Postman samples send ``6635``."""
    text = text.strip()
    return text.zfill(10) if text.isdigit() else text


def int_field(body: dict, key: str) -> int:
    text = field(body, key)
    if not text.isdigit():
        raise KisReply((codes.BAD_BODY[0], codes.BAD_BODY[1], f"{codes.BAD_BODY[2]} ({key})"))
    return int(text)


class RestApi:
    """Handlers for the KIS endpoints; state lives in the Simulator."""

    def __init__(self, sim: SimHost):
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        """KIS's paths, each also under a doubled leading slash (``//uapi/...``): clients that join a base URL
        and a path that both carry the slash (mojito) work against KIS."""
        routes = self._routes()
        return routes + [web.route(r.method, "/" + r.path, r.handler) for r in routes]

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/oauth2/tokenP", self.token), web.post("/oauth2/revokeP", self.revoke),
            web.post("/oauth2/Approval", self.approval), web.post("/uapi/hashkey", self.hashkey),
            web.post(f"{TRADING}/order-cash", self.order_cash), web.post(f"{TRADING}/order-rvsecncl", self.rvsecncl),
            web.get(f"{TRADING}/inquire-daily-ccld", self.daily_ccld),
            web.get(f"{TRADING}/inquire-psbl-rvsecncl", self.psbl_rvsecncl),
            web.get(f"{TRADING}/inquire-balance", self.balance),
            web.get(f"{TRADING}/inquire-psbl-order", self.psbl_order),
            web.get("/uapi/domestic-stock/v1/quotations/inquire-price", self.price),
            web.get("/uapi/domestic-stock/v1/quotations/search-info", self.search_info),
        ]

    # ------------------------------------------------------------------- auth

    def _app_secret(self, app_key: str, request: web.Request) -> str | None:
        """The key's secret, if the key exists and this host takes it (split: real keys on the real host only)."""
        scenario = self.sim.scenario
        if scenario.env == "split" and scenario.key_env(app_key) != host_env(request):
            return None
        return next((k.app_secret for k in scenario.app_keys if k.app_key == app_key), None)

    async def token(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        key, secret = body.get("APPKEY", ""), body.get("APPSECRET", "")
        if body.get("GRANT_TYPE") != "client_credentials" or self._app_secret(key, request) != secret or not secret:
            return token_error(codes.BAD_APPKEY[1], codes.BAD_APPKEY[2])
        now = self.sim.now()
        last = self.sim.tokens_by_key.get(key)
        if last and (now - last["issued"]).total_seconds() < self.sim.scenario.token_min_interval:
            return token_error(codes.TOKEN_TOO_OFTEN, "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)")
        return kis_json(self._reissue(last, now) or self._issue(key, now))

    def _reissue(self, last: dict | None, now: datetime) -> dict | None:
        """KIS hands back the same live token when asked again within 6 hours of issuing it."""
        data = self.sim.tokens.get(last["token"]) if last else None
        age = (now - last["issued"]).total_seconds() if last else TOKEN_REUSE_SECONDS
        if data is None or data["expires"] <= now or age >= TOKEN_REUSE_SECONDS:
            return None
        return self._token_reply(last["token"], data["expires"], now)

    def _issue(self, key: str, now: datetime) -> dict:
        token = secrets.token_urlsafe(48)
        expires = now + timedelta(seconds=self.sim.scenario.token_ttl)
        self.sim.tokens[token] = {"app_key": key, "expires": expires}
        self.sim.tokens_by_key[key] = {"token": token, "issued": now}
        return self._token_reply(token, expires, now)

    @staticmethod
    def _token_reply(token: str, expires: datetime, now: datetime) -> dict:
        return {"access_token": token, "token_type": "Bearer", "expires_in": int((expires - now).total_seconds()),
                "access_token_token_expired": expires.strftime("%Y-%m-%d %H:%M:%S")}

    async def revoke(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        key = body.get("APPKEY", "")
        if not key or self._app_secret(key, request) != body.get("APPSECRET"):
            return token_error(codes.BAD_APPKEY[1], codes.BAD_APPKEY[2])
        self.sim.tokens.pop(body.get("TOKEN", ""), None)
        return kis_json({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    async def approval(self, request: web.Request) -> web.Response:
        """A WebSocket approval key for any known app key on either host: python-kis asks the paper host with
        the real key in virtual mode and works against KIS (that KIS does not bind it is unconfirmed)."""
        body = await json_body(request)
        key = body.get("APPKEY", "")
        secret = next((k.app_secret for k in self.sim.scenario.app_keys if k.app_key == key), None)
        if secret != body.get("SECRETKEY") or not key:
            return token_error(codes.BAD_APPKEY[1], codes.BAD_APPKEY[2])
        approval = secrets.token_hex(18)
        self.sim.approval_keys.add(approval)
        return kis_json({"approval_key": approval})

    async def hashkey(self, request: web.Request) -> web.Response:
        if self._app_secret(request.headers.get("appkey", ""), request) != request.headers.get("appsecret"):
            raise KisReply(codes.BAD_APPKEY, 500)
        body = await json_body(request)
        text = await request.text()
        return kis_json({"BODY": body, "HASH": hashlib.sha256(text.encode()).hexdigest()})

    def authorize(self, request: web.Request) -> str:
        """Check headers, token and tr_id; returns the tr_id's meaning for the path."""
        missing = [h for h in REQUIRED_HEADERS if not request.headers.get(h)]
        if missing:
            raise KisReply((codes.MISSING_HEADER[0], codes.MISSING_HEADER[1],
                            f"{codes.MISSING_HEADER[2]} ({', '.join(missing)})"), 500)
        auth = request.headers["authorization"]
        token = self.sim.tokens.get(auth[7:] if auth.startswith("Bearer ") else "")
        if token is None:
            raise KisReply(codes.TOKEN_INVALID, 500)
        if token["expires"] <= self.sim.now():
            raise KisReply(codes.TOKEN_EXPIRED, 500)
        key = request.headers["appkey"]
        if token["app_key"] != key or self._app_secret(key, request) != request.headers["appsecret"]:
            raise KisReply(codes.BAD_APPKEY, 500)
        tr_id = request.headers["tr_id"]
        meaning = TR_IDS.get(kis_path(request), {}).get(tr_id)
        if meaning is None or not env_allows(host_env(request), tr_id):
            raise KisReply(codes.BAD_TR_ID, 500)
        return meaning

    # ----------------------------------------------------------------- orders

    def _account(self, body: dict) -> str:
        return f"{field(body, 'CANO')}-{field(body, 'ACNT_PRDT_CD')}"

    async def order_cash(self, request: web.Request) -> web.Response:
        meaning = self.authorize(request)
        body = await json_body(request)
        side = Side.BUY if meaning == "buy" else Side.SELL
        args = (self._account(body), field(body, "PDNO"), side, field(body, "ORD_DVSN"),
                int_field(body, "ORD_QTY"), int_field(body, "ORD_UNPR"))
        order = await self.sim.run_business(lambda: self.sim.place(*args, exchange=body.get("EXCG_ID_DVSN_CD") or "KRX"))
        return self._ack(order, codes.OK)

    async def rvsecncl(self, request: web.Request) -> web.Response:
        self.authorize(request)
        body = await json_body(request)
        kind = {"01": "amend", "02": "cancel"}.get(field(body, "RVSE_CNCL_DVSN_CD"))
        if kind is None:
            raise KisReply(codes.BAD_BODY)
        args = (self._account(body), order_number(field(body, "ORGN_ODNO")), kind, int_field(body, "ORD_QTY"),
                int_field(body, "ORD_UNPR"), field(body, "QTY_ALL_ORD_YN") == "Y", body.get("ORD_DVSN", ""))
        order = await self.sim.run_business(lambda: self.sim.change(*args))
        return self._ack(order, codes.OK)

    def _ack(self, order, code) -> web.Response:
        return kis_json(envelope(code, output={"KRX_FWDG_ORD_ORGNO": ORGNO, "ODNO": order.odno,
                                               "ORD_TMD": order.ord_tmd}))

    # -------------------------------------------------------------- inquiries

    @staticmethod
    def _query_account(q: CIMultiDict) -> str:
        return f"{q.get('CANO', '')}-{q.get('ACNT_PRDT_CD', '')}"

    def _paged(self, request: web.Request, q: CIMultiDict, rows: list, inquiry: str, render=None,
               **outputs: Any) -> web.Response:
        """One page of ``rows`` (each passed through ``render`` if given) with KIS's cursors:
        ``ctx_area_fk100``/``nk100`` in the body (100 characters, padded: a client must echo them verbatim),
        ``tr_cont`` M (more) or D (last) in the header."""
        size = self.sim.scenario.rows_per_page(inquiry, host_env(request))
        start = cursor(q) if request.headers.get("tr_cont") == "N" else 0
        page, more = rows[start:start + size], start + size < len(rows)
        page = [render(r) for r in page] if render else page
        fk100 = f"{q.get('CANO', '')}^{q.get('ACNT_PRDT_CD', '')}^".ljust(100)
        nk100 = (str(start + size) if more else "").ljust(100)
        key = "output" if inquiry == "psbl_rvsecncl" else "output1"
        data = envelope(codes.INQUIRY_OK, ctx_area_fk100=fk100, ctx_area_nk100=nk100, **{key: page}, **outputs)
        return kis_json(data, headers={"tr_cont": "M" if more else "D"})

    async def daily_ccld(self, request: web.Request) -> web.Response:
        self.authorize(request)
        q = query(request)
        inquiry = (self._query_account(q), q.get("INQR_STRT_DT", ""), q.get("INQR_END_DT", ""), q.get("PDNO", ""),
                   order_number(q.get("ODNO", "")), q.get("SLL_BUY_DVSN_CD", "00"), q.get("CCLD_DVSN", "00"))
        orders = self.sim.booked(*inquiry)
        if q.get("INQR_DVSN", "00") == "00":
            orders.reverse()
        return self._paged(request, q, orders, "daily_ccld", lambda o: views.daily_row(self.sim.venue, o),
                           output2=self.sim.daily_summary(*inquiry))

    async def psbl_rvsecncl(self, request: web.Request) -> web.Response:
        self.authorize(request)
        q = query(request)
        return self._paged(request, q, self.sim.amendable(self._query_account(q)), "psbl_rvsecncl")

    async def balance(self, request: web.Request) -> web.Response:
        self.authorize(request)
        q = query(request)
        account = self._query_account(q)
        rows = views.balance_rows(self.sim.venue, account)
        return self._paged(request, q, rows, "balance",
                           output2=views.balance_summary(self.sim.venue, account, rows))

    async def psbl_order(self, request: web.Request) -> web.Response:
        self.authorize(request)
        q = query(request)
        output = views.buying_power(self.sim.venue, self._query_account(q), q.get("PDNO", ""), q.get("ORD_UNPR", "0"))
        return kis_json(envelope(codes.INQUIRY_OK, output=output))

    async def price(self, request: web.Request) -> web.Response:
        self.authorize(request)
        code = query(request).get("FID_INPUT_ISCD", "")
        if code not in self.sim.venue.symbols:
            raise KisReply(codes.UNKNOWN_SYMBOL)
        return kis_json(envelope(codes.INQUIRY_OK, output=views.quote(self.sim.venue, code, self.sim.when()[0])))

    async def search_info(self, request: web.Request) -> web.Response:
        """상품기본조회 (CTPF1604R): ``PDNO`` and ``PRDT_TYPE_CD`` (300 = stock, ETF, ETN, ELW)."""
        self.authorize(request)
        q = query(request)
        code = q.get("PDNO", "")
        if code not in self.sim.venue.symbols or q.get("PRDT_TYPE_CD", "300") != "300":
            raise KisReply(codes.UNKNOWN_SYMBOL)
        return kis_json(envelope(codes.INQUIRY_OK, output=views.search_info(self.sim.venue, code)))


def cursor(q: CIMultiDict) -> int:
    """The row offset a continuation asks for: the ``CTX_AREA_NK100`` this simulator handed out, exactly
    (100 characters, padding included). Anything else (a stripped cursor) starts from the first row."""
    nk100 = q.get("CTX_AREA_NK100", "")
    return int(nk100) if len(nk100) == 100 and nk100.strip().isdigit() else 0


def reject_reply(exc: Reject) -> web.Response:
    return kis_json(envelope(exc.code, output={}))
