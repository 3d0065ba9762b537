"""Shared pieces for the KIS adapter tests: a connection, a fake clock and a scriptable fake KIS."""

from __future__ import annotations

import base64
import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Callable

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kisoms.kis.client import PATHS, KisClient
from kisoms.kis.connection import KisConnection
from kisoms.kis.notices import FIELDS

APP_KEY = "PSkey0123456789ABCDEFGHIJKLMNOPQRSTU"
APP_SECRET = "SECRETzyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUTSRQPONMLKJIHGFEDCBA+/=abcdefghijklmnopqrstuv"
ACCOUNT = "50000001-01"
BASE = "http://kis.test"


def make_conn(state_dir: Path, env: str = "real", **kw) -> KisConnection:
    """A connection to the fake host with test credentials and a high rate (tests are not about pacing)."""
    kw.setdefault("rate_per_sec", 1000.0)
    return KisConnection(env=env, rest_url=BASE, ws_url="ws://kis.test", app_key=APP_KEY, app_secret=APP_SECRET,
                         hts_id="simuser", state_dir=state_dir, **kw)


class FakeClock:
    """time() and sleep() on a clock that only moves when slept on."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def kis_reply(status: int = 200, *, rt_cd: str = "0", msg_cd: str = "KIOK0000", msg1: str = "ok",
              headers: dict | None = None, **outputs) -> httpx.Response:
    """A reply in KIS's envelope."""
    return httpx.Response(status, json={"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1, **outputs}, headers=headers)


def kis_error(msg_cd: str, msg1: str = "error", status: int = 500) -> httpx.Response:
    return kis_reply(status, rt_cd="1", msg_cd=msg_cd, msg1=msg1)


Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeKis:
    """A MockTransport handler: issues tokens ``tok-1``, ``tok-2``...; other paths answer from per-path scripts."""

    def __init__(self, expires_in: int = 86400):
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.expires_in = expires_in
        self.scripts: dict[str, deque] = defaultdict(deque)
        self.default: dict[str, Reply] = {}

    def script(self, path_key: str, *replies: Reply) -> None:
        """Answer the next calls to ``PATHS[path_key]`` with ``replies`` in order."""
        self.scripts[PATHS[path_key]].extend(replies)

    def calls(self, path_key: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == PATHS[path_key]]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.scripts.get(request.url.path)
        reply = queue.popleft() if queue else self.default.get(request.url.path)
        if reply is None and request.url.path == PATHS["token"]:
            self.tokens_issued += 1
            return httpx.Response(200, json={"access_token": f"tok-{self.tokens_issued}", "token_type": "Bearer",
                                             "expires_in": self.expires_in})
        if reply is None and request.url.path == PATHS["hashkey"]:
            return httpx.Response(200, json={"HASH": "hash-of-" + str(len(request.content))})
        if reply is None:
            return kis_reply(output={}, output1=[])
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def client(self, state_dir: Path, env: str = "real", **kw) -> KisClient:
        return KisClient(make_conn(state_dir, env, **kw), transport=httpx.MockTransport(self.handler),
                         sleep=lambda s: None)


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


# ------------------------------------------------------------------ execution-notice frames

KEY, IV = "abcdefghijklmnopqrstuvwxyz012345", "0123456789abcdef"
KEYS = {"H0STCNI0": (KEY, IV), "H0STCNI9": (KEY, IV)}

VALUES = {"CUST_ID": "simuser", "ACNT_NO": "5000000101", "ODER_NO": "0000012345", "OODER_NO": "0000012300",
          "SELN_BYOV_CLS": "02", "RCTF_CLS": "0", "ODER_KIND": "00", "ODER_COND": "0", "STCK_SHRN_ISCD": "005930",
          "CNTG_QTY": "7", "CNTG_UNPR": "71000", "STCK_CNTG_HOUR": "091502", "RFUS_YN": "0", "CNTG_YN": "2",
          "ACPT_YN": "2", "BRNC_NO": "91252", "ODER_QTY": "10", "ACNT_NAME": "홍길동", "ORD_COND_PRC": "",
          "ORD_EXG_GB": "1", "POPUP_YN": "N", "FILLER": "", "CRDT_CLS": "10", "CRDT_LOAN_DATE": "",
          "CNTG_ISNM40": "삼성전자", "ODER_PRC": "71000"}


def encrypt(text: str, key: str = KEY, iv: str = IV) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def record(width: int = 26, **change) -> list[str]:
    values = [{**VALUES, **change}[f] for f in FIELDS]
    return (values + [f"X{i}" for i in range(len(values), width)])[:width]


def old_record(**change) -> list[str]:
    """A record in KIS's old 23-field layout: the first 17 as now, then ACNT_NAME, CNTG_ISNM, CRDT_CLS,
    CRDT_LOAN_DATE, CNTG_ISNM40, ODER_PRC."""
    values = {**VALUES, "CNTG_ISNM": "삼성전자", **change}
    return [values[f] for f in FIELDS[:17]] + [values[f] for f in (
        "ACNT_NAME", "CNTG_ISNM", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC")]


def frame(*records: list[str], tr_id: str = "H0STCNI0", key: str = KEY) -> str:
    return f"1|{tr_id}|{len(records)}|{encrypt('^'.join('^'.join(r) for r in records), key)}"
