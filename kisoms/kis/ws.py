"""The execution-notice stream over the KIS WebSocket: subscribe, decrypt, answer PINGPONG, reconnect.

``NoticeStream`` is an async iterator of ``ExecutionNotice`` and ``ConnectionState`` items. It reports
``connected`` only after the subscribe reply arrived (so a gap-fill started then misses nothing),
``heartbeat`` on every PINGPONG, and ``disconnected`` before each reconnect (exponential backoff with
jitter). Malformed frames (bad base64, wrong key, short field list, unknown tr_id) are logged and
skipped: the connection survives them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Callable

import websockets

from kisoms.errors import BrokerError, BrokerProtocolError
from kisoms.kis.connection import KisConnection
from kisoms.kis.errors_map import scrub
from kisoms.kis.notices import parse_frame
from kisoms.kis.tr_ids import NOTICE_TR_ID

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, the subscribe message (with the approval key) included: its own
# logger for this stream, never below INFO, keeps the key out of any log however the root is configured.
wire_log = logging.getLogger(f"{__name__}.wire")
wire_log.setLevel(logging.INFO)
PINGPONG = "PINGPONG"
# KIS's reply when the approval key already holds this subscription (e.g. the server kept it across a
# reconnect). The subscription is live, so it counts as connected; the AES key/IV of the earlier reply stay.
ALREADY_SUBSCRIBED = "OPSP0002"
_END = object()


@dataclass(frozen=True)
class ConnectionState:
    """``connected`` | ``heartbeat`` | ``disconnected``, with a human detail."""

    kind: str
    detail: str = ""


def subscribe_message(approval_key: str, custtype: str, tr_id: str, tr_key: str, subscribe: bool = True) -> str:
    return json.dumps({"header": {"approval_key": approval_key, "custtype": custtype,
                                  "tr_type": "1" if subscribe else "2", "content-type": "utf-8"},
                       "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})


class NoticeStream:
    """Execution notices for the connection's HTS ID, across reconnects, until ``close()``."""

    def __init__(self, conn: KisConnection, approval_key: Callable[[], str], *, max_backoff: float = 30.0,
                 base_backoff: float = 0.25):
        self.conn, self.approval_key = conn, approval_key
        self.tr_id = NOTICE_TR_ID.get(conn.env, "H0STCNI0")
        self.max_backoff, self.base_backoff = max_backoff, base_backoff
        self.keys: dict[str, tuple[str, str]] = {}
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.Event()
        self.ws = None
        self.task: asyncio.Task | None = None
        self.approval = ""
        self.failure: Exception | None = None

    def __aiter__(self):
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is _END:
            self.queue.put_nowait(_END)  # every later call ends too
            if self.failure is not None:
                raise self.failure
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        """Stop reconnecting, drop the connection and end the iteration."""
        self.closed.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        """Sessions until ``close()``; anything but a network or broker fault ends the stream with that error."""
        try:
            await self._sessions()
        except Exception as exc:
            self.failure = exc
        finally:
            self.queue.put_nowait(_END)

    async def _sessions(self) -> None:
        failures = 0
        while not self.closed.is_set():
            try:
                await self._session()
                failures = 0
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException, BrokerError) as exc:
                detail = scrub(f"{type(exc).__name__}: {exc}", (self.approval,))
                self.queue.put_nowait(ConnectionState("disconnected", detail[:200]))
                failures += 1
            if not self.closed.is_set():
                await self._backoff(max(failures, 1))

    async def _backoff(self, failures: int) -> None:
        delay = min(self.max_backoff, self.base_backoff * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
        try:
            await asyncio.wait_for(self.closed.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _session(self) -> None:
        key = self.approval = await asyncio.to_thread(self.approval_key)  # an HTTP call: keep the loop free
        async with websockets.connect(self.conn.ws_url, open_timeout=self.conn.connect_timeout,
                                      logger=wire_log) as ws:
            self.ws = ws
            await ws.send(subscribe_message(key, self.conn.custtype, self.tr_id, self.conn.hts_id))
            async for message in ws:
                await self._handle(ws, message if isinstance(message, str) else message.decode())
        if not self.closed.is_set():
            self.queue.put_nowait(ConnectionState("disconnected", "server closed the connection"))

    async def _handle(self, ws, message: str) -> None:
        if message.startswith("{"):
            await self._control(ws, message)
            return
        try:
            for notice in parse_frame(message, self.keys):
                self.queue.put_nowait(notice)
        except BrokerProtocolError as exc:
            log.warning("skipped a malformed notice frame: %s", exc)

    async def _control(self, ws, message: str) -> None:
        """A JSON frame: PINGPONG (echoed back unchanged) or a subscribe reply; anything else is skipped."""
        try:
            data = json.loads(message)
        except ValueError:
            log.warning("skipped a control frame that is not JSON")
            return
        header = data.get("header") if isinstance(data, dict) else None
        if not isinstance(header, dict):
            log.warning("skipped a control frame without a header object")
            return
        if header.get("tr_id") == PINGPONG:
            await ws.send(message)
            self.queue.put_nowait(ConnectionState("heartbeat"))
            return
        body = data.get("body")
        if not isinstance(body, dict):
            log.warning("skipped a control frame for %r without a body object", header.get("tr_id"))
            return
        self._subscribe_reply(header, body)

    def _subscribe_reply(self, header: dict, body: dict) -> None:
        if body.get("msg_cd") == ALREADY_SUBSCRIBED:
            self._already_subscribed(header.get("tr_id", self.tr_id))
            return
        if str(body.get("rt_cd", "")) != "0":
            raise BrokerProtocolError(f"subscribe refused: [{body.get('msg_cd')}] {body.get('msg1')}")
        output = body.get("output") if isinstance(body.get("output"), dict) else {}
        if output.get("key") and output.get("iv"):
            self.keys[header.get("tr_id", self.tr_id)] = (output["key"], output["iv"])
        self.queue.put_nowait(ConnectionState("connected", str(body.get("msg1", "")).strip()))

    def _already_subscribed(self, tr_id: str) -> None:
        """Live already: connected, with a warning when no AES key is known to decrypt its notices."""
        if tr_id not in self.keys:
            log.warning("KIS says %s is already subscribed but sent no AES key; encrypted notices will be "
                        "skipped until a reconnect (reconcile's gap-fill still finds the fills)", tr_id)
        self.queue.put_nowait(ConnectionState("connected", "already subscribed"))
