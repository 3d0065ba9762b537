"""The simulator process: REST and WebSocket listeners, the venue, notices, faults and the state file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from aiohttp import WSMsgType, web

from kisoms.domain.codes import Side
from kisoms.sim import codes
from kisoms.sim.admin import admin_routes
from kisoms.sim.faults import SPOILED_BODY_KINDS, FaultBook, spoiled_reply
from kisoms.sim.frames import data_frame, new_key_iv, notice_text, notice_values
from kisoms.sim.rest import HOST_ENV, KisReply, kis_path, RestApi, envelope, kis_json, reject_reply
from kisoms.sim.scenario import Scenario, default_scenario
from kisoms.sim.state import load_state, save_state
from kisoms.sim.venue import Event, Reject, SimOrder, Venue

log = logging.getLogger("kisoms.sim")
KST = timezone(timedelta(hours=9))
HTML_ERROR = "<html><body><h1>502 Bad Gateway</h1></body></html>"
NOTICE_TR_IDS = frozenset({"H0STCNI0", "H0STCNI9"})  # domestic execution notices (real, paper): sent
QUIET_TR_IDS = frozenset({"H0GSCNI0", "H0GSCNI9"})  # overseas execution notices: accepted, never sent


CLOCK_SHIFT_VAR = "KISOMS_SIM_CLOCK_SHIFT"  # seconds; kisoms's sim env reads the same variable


def wall_clock() -> Callable[[], datetime]:
    """KST wall time, shifted by ``KISOMS_SIM_CLOCK_SHIFT`` seconds when set (replaying another date)."""
    raw = os.environ.get(CLOCK_SHIFT_VAR, "").strip()
    try:
        shift = timedelta(seconds=float(raw or 0))
    except ValueError:
        raise ValueError(f"{CLOCK_SHIFT_VAR}={raw!r} is not a number of seconds") from None
    return lambda: datetime.now(KST) + shift


class Subscriber:
    """One WebSocket subscription to execution notices."""

    def __init__(self, ws: web.WebSocketResponse, tr_id: str, hts_id: str, key: str, iv: str):
        self.ws, self.tr_id, self.hts_id, self.key, self.iv = ws, tr_id, hts_id, key, iv


class Simulator:
    """A KIS-faithful venue. ``await start()``, use ``rest_url`` / ``ws_url``, ``await stop()``."""

    def __init__(self, scenario: Scenario | None = None, *, seed: int = 0, state_file: str | Path | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.scenario = scenario or default_scenario()
        self.seed, self.rng = seed, random.Random(seed)
        self.state_file = Path(state_file) if state_file else None
        self.clock = clock or wall_clock()
        self.venue = Venue(self.scenario, seed)
        self.faults = FaultBook()
        self._daily_cache: dict[tuple, tuple[int, list, dict]] = {}  # inquire-daily-ccld answers by venue version
        for spec in self.scenario.faults:
            self.faults.add(spec)
        self.tokens: dict[str, dict] = {}
        self.tokens_by_key: dict[str, dict] = {}
        self.approval_keys: set[str] = set()
        self.subscribers: list[Subscriber] = []
        self.notices_sent: list[dict] = []
        self.held_notice: tuple | None = None
        self.calls: dict[str, deque] = {}
        self.gt_seq = 0
        self.runners: list[web.AppRunner] = []
        self.tasks: set[asyncio.Task] = set()
        self.rest_url = self.ws_url = ""  # the real host (or the only one)
        self.paper_rest_url = self.paper_ws_url = ""  # the paper host (the same as the real one unless split)
        if self.state_file and self.state_file.exists():
            load_state(self, self.state_file)

    def now(self) -> datetime:
        return self.clock()

    def when(self) -> tuple[str, str]:
        now = self.now().astimezone(KST)
        return now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    # -------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, ws_port: int = 0, paper_port: int = 0,
                    paper_ws_port: int = 0) -> None:
        """Listen: one REST and one WebSocket host per env ("split": real and paper, as KIS has), else one each."""
        split = self.scenario.env == "split"
        env = "real" if split else self.scenario.env
        self.rest_url, self.ws_url = await self._host(env, host, port, ws_port)
        self.paper_rest_url, self.paper_ws_url = (await self._host("paper", host, paper_port, paper_ws_port) if split
                                                  else (self.rest_url, self.ws_url))
        self._spawn(self._pingpong())
        if self.scenario.random_walk:
            self._spawn(self._walk())

    async def _host(self, env: str, host: str, port: int, ws_port: int) -> tuple[str, str]:
        rest = web.Application(middlewares=[self._middleware])
        rest[HOST_ENV] = env
        rest.add_routes(RestApi(self).routes() + admin_routes(self))
        ws = web.Application()
        ws[HOST_ENV] = env
        ws.add_routes([web.get("/{tail:.*}", self._ws_handler)])
        return (f"http://{host}:{await self._listen(rest, host, port)}",
                f"ws://{host}:{await self._listen(ws, host, ws_port)}")

    async def _listen(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self.runners.append(runner)
        return site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for sub in list(self.subscribers):
            await sub.ws.close()
        for runner in self.runners:
            await runner.cleanup()
        self.save()

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def save(self) -> None:
        if self.state_file:
            save_state(self, self.state_file)

    # ------------------------------------------------------------- middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path.startswith("/_sim"):
            return await handler(request)
        response = await self._answer(request, handler)
        self._stamp(request, response)
        return response

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await self._guarded(request, handler)
        except KisReply as reply:
            return kis_json(envelope(reply.code), reply.status)
        except web.HTTPNotFound:
            return kis_json(envelope(("1", "EGW00001", "존재하지 않는 URL입니다.")), 404)
        except web.HTTPMethodNotAllowed:
            return kis_json(envelope(("1", "EGW00002", "허용되지 않는 메소드입니다.")), 405)
        except Reject as exc:
            return reject_reply(exc)
        except Exception:  # the venue must answer like KIS, never with a framework stack trace
            log.exception("simulator error on %s", request.path)
            return kis_json(envelope(("1", "EGW00999", "서버 에러가 발생했습니다.")), 500)

    async def _guarded(self, request: web.Request, handler) -> web.StreamResponse:
        if self._rate_limited(request.headers.get("appkey", ""), request.app[HOST_ENV]):
            raise KisReply(codes.RATE_LIMIT, 500)
        fault = self.faults.rest_fault(kis_path(request), request.headers.get("tr_id", ""))
        early = await self._before(request, fault) if fault else None
        if early is not None:
            return early
        response = await handler(request)
        return await self._after(request, fault, response) if fault else response

    def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        """KIS's response headers on every reply, errors included: ``tr_id`` echoed, ``tr_cont`` (set by
        paged inquiries; empty otherwise) and a ``gt_uid`` per transaction."""
        self.gt_seq += 1
        response.headers.setdefault("tr_id", request.headers.get("tr_id", ""))
        response.headers.setdefault("tr_cont", "")
        response.headers.setdefault("gt_uid", f"SIM{self.gt_seq:029d}")

    def _rate_limited(self, app_key: str, host_env: str) -> bool:
        window = self.calls.setdefault(app_key, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.scenario.rate_limit(host_env):
            return True
        window.append(now)
        return False

    async def _before(self, request: web.Request, fault) -> web.StreamResponse | None:
        kind = fault.kind
        if kind == "delay":
            await asyncio.sleep(fault.seconds)
        elif kind == "error_before_accept":
            return web.Response(text=HTML_ERROR, status=500, content_type="text/html")
        elif kind == "reset_before_accept":
            return self._reset(request)
        elif kind == "rate_limit":
            raise KisReply(codes.RATE_LIMIT, 500)
        elif kind == "token_expired":
            self._expire_token(request.headers.get("authorization", "")[7:])
            raise KisReply(codes.TOKEN_EXPIRED, 500)
        return None

    def _expire_token(self, token: str) -> None:
        """Expire a token as if its day were over (so its issuance is also long past)."""
        data = self.tokens.get(token)
        if data is None:
            return
        data["expires"] = min(data["expires"], self.now())  # later calls with it keep getting EGW00123
        issued = self.tokens_by_key.get(data["app_key"])
        if issued and issued["token"] == token:
            issued["issued"] -= timedelta(seconds=self.scenario.token_ttl)

    async def _after(self, request: web.Request, fault, response: web.StreamResponse) -> web.StreamResponse:
        if fault.kind == "drop_response":
            await asyncio.sleep(fault.seconds)
        elif fault.kind == "error_after_accept":
            return web.Response(text=HTML_ERROR, status=502, content_type="text/html")
        elif fault.kind == "reset_after_accept":
            return self._reset(request)
        elif fault.kind in SPOILED_BODY_KINDS:
            return spoiled_reply(fault.kind, response)
        return response

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    # --------------------------------------------------------------- business

    async def run_business(self, action: Callable[[], SimOrder]) -> SimOrder:
        """Run a venue action; book the result, send its notices, persist."""
        if self.scenario.enforce_hours and not self._market_open():
            raise KisReply(codes.MARKET_CLOSED)
        order = action()
        self.save()
        return order

    def _market_open(self) -> bool:
        hhmmss = self.when()[1]
        return "090000" <= hhmmss < "153000"

    def place(self, account: str, code: str, side: Side, ord_dvsn: str, qty: int, price: int,
              exchange: str = "KRX") -> SimOrder:
        order, events = self.venue.place(account, code, side, ord_dvsn, qty, price, self.when(), exchange)
        self.emit(events)
        self.match(order)
        return order

    def change(self, account: str, orgn_odno: str, kind: str, qty: int, price: int, all_qty: bool,
               ord_dvsn: str) -> SimOrder:
        order, events = self.venue.change(account, orgn_odno, kind, qty, price, all_qty, ord_dvsn, self.when())
        self.emit(events)
        if kind == "amend":
            self.match(order)
        return order

    def match(self, order: SimOrder) -> None:
        """Fill a marketable order now (or in delayed slices); IOC remainders are cancelled."""
        if not (self.scenario.auto_fill and self.venue.marketable(order)):
            self.emit(self.venue.expire_unfillable(order, self.when()))
            return
        if self.scenario.fill_delay > 0:
            self._spawn(self._fill_later(order))
            return
        for qty in self.venue.slices(order):
            self.emit(self.venue.fill(order, qty, self.venue.prices[order.symbol], self.when()))
        self.emit(self.venue.expire_unfillable(order, self.when()))

    async def _fill_later(self, order: SimOrder) -> None:
        for qty in self.venue.slices(order):
            await asyncio.sleep(self.scenario.fill_delay)
            if not self.venue.marketable(order):
                break
            self.emit(self.venue.fill(order, qty, self.venue.prices[order.symbol], self.when()))
            self.save()

    def set_price(self, code: str, price: int) -> None:
        self.venue.symbol(code)
        self.venue.prices[code] = price
        for order in self.venue.open_orders(code):
            self.match(order)
        self.save()

    def force_fill(self, odno: str, qty: int, price: int | None) -> list[Event]:
        order = self.venue.orders[odno]
        events = self.venue.fill(order, qty, price or self.venue.prices[order.symbol], self.when())
        self.emit(events)
        self.save()
        return events

    async def _walk(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for code in list(self.venue.prices):
                self.set_price(code, self.venue.walk(code))

    # -------------------------------------------------------------- inquiries

    def books(self, account: str, start: str, end: str, pdno: str, odno: str, side: str, ccld: str) -> list[dict]:
        """inquire-daily-ccld rows of the orders that match (see ``booked``)."""
        from kisoms.sim.views import daily_row

        return [daily_row(self.venue, o) for o in self.booked(account, start, end, pdno, odno, side, ccld)]

    def booked(self, account: str, start: str, end: str, pdno: str, odno: str, side: str,
               ccld: str) -> list[SimOrder]:
        """The account's orders, amends and cancels that match an inquire-daily-ccld query, oldest first."""
        return list(self._daily(account, start, end, pdno, odno, side, ccld)[1])

    def daily_summary(self, account: str, start: str, end: str, pdno: str, odno: str, side: str,
                      ccld: str) -> dict[str, str]:
        """inquire-daily-ccld output2 (totals over every matching order, all pages)."""
        return self._daily(account, start, end, pdno, odno, side, ccld)[2]

    def _daily(self, account: str, *query: str) -> tuple[int, list[SimOrder], dict[str, str]]:
        """The matching orders and their totals, reused while the book is unchanged: a client paging through
        10,000 orders costs one scan, then O(page) per page."""
        from kisoms.sim.views import daily_summary

        orders = self.venue.orders_of(account)  # first: a replaced book bumps the version
        key = (account, *query)
        cached = self._daily_cache.get(key)
        if cached is not None and cached[0] == self.venue.version:
            return cached
        found = self._match(orders, *query)
        if len(self._daily_cache) >= 16:
            self._daily_cache.clear()
        self._daily_cache[key] = answer = (self.venue.version, found, daily_summary(found))
        return answer

    @staticmethod
    def _match(orders: list[SimOrder], start: str, end: str, pdno: str, odno: str, side: str,
               ccld: str) -> list[SimOrder]:
        found = []
        for o in orders:
            if (start and o.ord_dt < start) or (end and o.ord_dt > end):
                continue
            if (pdno and o.symbol != pdno) or (odno and o.odno != odno) or (side not in ("00", "") and
                                                                             o.side.kis_code != side):
                continue
            if (ccld == "01" and not o.filled) or (ccld == "02" and not o.remaining):
                continue
            found.append(o)
        return found

    def amendable(self, account: str) -> list[dict]:
        """inquire-psbl-rvsecncl rows: the account's orders with quantity left to amend or cancel."""
        from kisoms.sim.views import psbl_row

        return [psbl_row(self.venue, o) for o in self.venue.orders_of(account)
                if o.kind != "cancel" and o.remaining > 0]

    # ---------------------------------------------------------------- notices

    def emit(self, events: list[Event]) -> None:
        for event in events:
            self._emit_one(event)

    def _emit_one(self, event: Event) -> None:
        if self.scenario.paper_no_notices:
            return
        symbol = self.venue.symbols[event.order.symbol]
        account = self.venue.accounts[event.order.account]
        values = notice_values(event, symbol.name, account.name)
        fault = self.faults.notice_fault()
        if fault == "notice_drop":
            return
        if fault == "notice_reorder":
            self.held_notice = (event.hts_id, values)
            return
        self._send_notice(event.hts_id, values)
        if fault == "notice_duplicate":
            self._send_notice(event.hts_id, values)
        if self.held_notice is not None:
            held, self.held_notice = self.held_notice, None
            self._send_notice(*held)

    def _send_notice(self, hts_id: str, values: dict[str, str]) -> None:
        self.notices_sent.append(values)
        text = notice_text(values, self.scenario.notice_layout)
        for sub in list(self.subscribers):
            if sub.hts_id == hts_id and sub.tr_id in NOTICE_TR_IDS and not sub.ws.closed:
                self._spawn(sub.ws.send_str(data_frame(sub.tr_id, [text], sub.key, sub.iv)))

    # -------------------------------------------------------------- websocket

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._ws_message(ws, msg.data)
        finally:
            self.subscribers = [s for s in self.subscribers if s.ws is not ws]
        return ws

    async def _ws_message(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            data = json.loads(text)
            if data["header"].get("tr_id") == "PINGPONG":
                return  # the client's echo of our heartbeat: no body, no reply
            header, body = data["header"], data["body"]["input"]
        except (ValueError, KeyError, TypeError, AttributeError):
            await ws.send_str(json.dumps(ws_reply("", "", codes.WS_BAD_JSON)))
            return
        await ws.send_str(json.dumps(self._subscribe(ws, header, body)))

    def _subscribe(self, ws: web.WebSocketResponse, header: dict, body: dict) -> dict:
        """Subscribe (tr_type 1) or unsubscribe (2) ``tr_id``/``tr_key`` on this connection, answered as KIS does."""
        tr_id, tr_key = body.get("tr_id", ""), body.get("tr_key", "")
        if header.get("approval_key") not in self.approval_keys:
            return ws_reply(tr_id, tr_key, codes.WS_BAD_APPROVAL)
        if tr_id not in NOTICE_TR_IDS | QUIET_TR_IDS:
            return ws_reply(tr_id, tr_key, codes.WS_BAD_TR_ID)
        mine = next((s for s in self.subscribers if s.ws is ws and s.tr_id == tr_id and s.hts_id == tr_key), None)
        if header.get("tr_type") == "2":
            if mine is None:
                return ws_reply(tr_id, tr_key, codes.WS_NOT_SUBSCRIBED)
            self.subscribers.remove(mine)
            return ws_reply(tr_id, tr_key, codes.WS_UNSUBSCRIBED)
        if mine is not None:
            return ws_reply(tr_id, tr_key, codes.WS_ALREADY_SUBSCRIBED, {"iv": mine.iv, "key": mine.key})
        key, iv = new_key_iv(self.rng)
        self.subscribers.append(Subscriber(ws, tr_id, tr_key, key, iv))
        return ws_reply(tr_id, tr_key, codes.WS_SUBSCRIBED, {"iv": iv, "key": key})

    async def _pingpong(self) -> None:
        while True:
            await asyncio.sleep(self.scenario.pingpong_interval)
            frame = json.dumps({"header": {"tr_id": "PINGPONG", "datetime": self.now().strftime("%Y%m%d%H%M%S")}})
            for ws in {id(s.ws): s.ws for s in self.subscribers}.values():  # once per connection
                if not ws.closed:
                    self._spawn(ws.send_str(frame))

    async def disconnect_all(self) -> int:
        subs, self.subscribers = list(self.subscribers), []
        for sub in subs:
            await sub.ws.close()
        return len(subs)


def ws_reply(tr_id: str, tr_key: str, code: tuple[str, str, str], output: dict | None = None) -> dict:
    """A WebSocket control reply: header (tr_id, tr_key, encrypt) and body (rt_cd, msg_cd, msg1[, output]).
    ``encrypt`` is "Y" when the reply hands out the key and iv the data frames will be encrypted with."""
    body: dict[str, Any] = {"rt_cd": code[0], "msg_cd": code[1], "msg1": code[2]}
    if output is not None:
        body["output"] = output
    return {"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "N" if output is None else "Y"}, "body": body}


def pid_info() -> dict:
    return {"pid": os.getpid()}
