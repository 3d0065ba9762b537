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
from kisoms.sim.rest import KisReply, RestApi, envelope, kis_json, reject_reply
from kisoms.sim.scenario import Scenario, default_scenario
from kisoms.sim.state import load_state, save_state
from kisoms.sim.venue import Event, Reject, SimOrder, Venue

log = logging.getLogger("kisoms.sim")
KST = timezone(timedelta(hours=9))
HTML_ERROR = "<html><body><h1>502 Bad Gateway</h1></body></html>"


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
        self.clock = clock or (lambda: datetime.now(KST))
        self.venue = Venue(self.scenario, seed)
        self.faults = FaultBook()
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
        self.rest_url = self.ws_url = ""
        if self.state_file and self.state_file.exists():
            load_state(self, self.state_file)

    def now(self) -> datetime:
        return self.clock()

    def when(self) -> tuple[str, str]:
        now = self.now().astimezone(KST)
        return now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    # -------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0, ws_port: int = 0) -> None:
        rest = web.Application(middlewares=[self._middleware])
        rest.add_routes(RestApi(self).routes() + admin_routes(self))
        ws = web.Application()
        ws.add_routes([web.get("/{tail:.*}", self._ws_handler)])
        self.rest_url = f"http://{host}:{await self._listen(rest, host, port)}"
        self.ws_url = f"ws://{host}:{await self._listen(ws, host, ws_port)}"
        self._spawn(self._pingpong())
        if self.scenario.random_walk:
            self._spawn(self._walk())

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
        try:
            if request.path.startswith("/_sim"):
                return await handler(request)
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
        if self._rate_limited(request.headers.get("appkey", "")):
            raise KisReply(codes.RATE_LIMIT, 500)
        fault = self.faults.rest_fault(request.path, request.headers.get("tr_id", ""))
        early = await self._before(request, fault) if fault else None
        if early is not None:
            return early
        response = await handler(request)
        if request.path.startswith("/uapi/"):
            self._stamp(request, response)
        return await self._after(request, fault, response) if fault else response

    def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        """KIS response headers: the request's ``tr_id`` echoed and a ``gt_uid`` per transaction."""
        self.gt_seq += 1
        response.headers.setdefault("tr_id", request.headers.get("tr_id", ""))
        response.headers.setdefault("gt_uid", f"SIM{self.gt_seq:029d}")

    def _rate_limited(self, app_key: str) -> bool:
        window = self.calls.setdefault(app_key, deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.scenario.rate_limit():
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
        from kisoms.sim.views import daily_row

        rows = []
        for o in self.venue.orders.values():
            if o.account != account or (start and o.ord_dt < start) or (end and o.ord_dt > end):
                continue
            if (pdno and o.symbol != pdno) or (odno and o.odno != odno) or (side not in ("00", "") and
                                                                             o.side.kis_code != side):
                continue
            if (ccld == "01" and not o.filled) or (ccld == "02" and not o.remaining):
                continue
            rows.append(daily_row(self.venue, o))
        return rows

    def quote(self, code: str) -> dict | None:
        from kisoms.sim.views import quote

        return quote(self.venue, code) if code in self.venue.symbols else None

    def balance(self, account: str) -> dict[str, Any]:
        from kisoms.sim.views import balance

        return balance(self.venue, account)

    def buying_power(self, account: str, code: str, price: str) -> dict:
        from kisoms.sim.views import buying_power

        return buying_power(self.venue, account, code, price)

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
            if sub.hts_id == hts_id and not sub.ws.closed:
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
            await ws.send_str(json.dumps(self._ws_error("", "OPSP0007", "JSON PARSING ERROR : invalid json format")))
            return
        await ws.send_str(json.dumps(self._subscribe(ws, header, body)))

    def _ws_error(self, tr_id: str, msg_cd: str, msg1: str) -> dict:
        return {"header": {"tr_id": tr_id, "tr_key": "", "encrypt": "N"},
                "body": {"rt_cd": "1", "msg_cd": msg_cd, "msg1": msg1}}

    def _subscribe(self, ws: web.WebSocketResponse, header: dict, body: dict) -> dict:
        tr_id, tr_key = body.get("tr_id", ""), body.get("tr_key", "")
        if header.get("approval_key") not in self.approval_keys:
            return self._ws_error(tr_id, "OPSP0011", "invalid approval : NOT FOUND")
        if tr_id not in ("H0STCNI0", "H0STCNI9"):
            return self._ws_error(tr_id, "OPSP0001", "invalid tr_id")
        self.subscribers = [s for s in self.subscribers
                            if not (s.ws is ws and s.tr_id == tr_id and s.hts_id == tr_key)]
        if header.get("tr_type") == "2":
            return {"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "N"},
                    "body": {"rt_cd": "0", "msg_cd": "OPSP0003", "msg1": "UNSUBSCRIBE SUCCESS"}}
        key, iv = new_key_iv(self.rng)
        self.subscribers.append(Subscriber(ws, tr_id, tr_key, key, iv))
        return {"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": "Y"},
                "body": {"rt_cd": "0", "msg_cd": "OPSP0000", "msg1": "SUBSCRIBE SUCCESS",
                         "output": {"iv": iv, "key": key}}}

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


def pid_info() -> dict:
    return {"pid": os.getpid()}
