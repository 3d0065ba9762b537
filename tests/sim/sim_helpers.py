"""A minimal KIS client written from PROTOCOL.md alone: httpx, websockets, cryptography and the stdlib.

Nothing here imports kisoms' own client; if the simulator drifts from the documented protocol, these
helpers (and so the tests) break.
"""

from __future__ import annotations

import clocks

import base64
import json
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from typing import Iterator

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from websockets.sync.client import ClientConnection, connect

from kisoms.sim.testing import SimHandle, running_simulator

KST = timezone(timedelta(hours=9))
TRADING = "/uapi/domestic-stock/v1/trading"
ORDER_CASH = f"{TRADING}/order-cash"
RVSECNCL = f"{TRADING}/order-rvsecncl"
DAILY_CCLD = f"{TRADING}/inquire-daily-ccld"
PSBL_RVSECNCL = f"{TRADING}/inquire-psbl-rvsecncl"
BALANCE = f"{TRADING}/inquire-balance"
PSBL_ORDER = f"{TRADING}/inquire-psbl-order"
PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
BUY, SELL = "TTTC0012U", "TTTC0011U"
UNSUBSCRIBE_REPLIES = ("OPSP0001", "OPSP0003")  # unsubscribed / was not subscribed
CURRENT_FIELDS = 26
LEGACY_FIELDS = 23


def today() -> str:
    return clocks.kst_today()


def assert_kis_error(response: httpx.Response, msg_cd: str | None = None, status: int | None = None) -> dict:
    """The reply is KIS's JSON error envelope (never HTML, never a framework page)."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["rt_cd"] != "0", body
    assert isinstance(body["msg_cd"], str) and body["msg_cd"], body
    assert isinstance(body["msg1"], str) and body["msg1"], body
    if msg_cd is not None:
        assert body["msg_cd"] == msg_cd, body
    if status is not None:
        assert response.status_code == status, (response.status_code, body)
    return body


def assert_token_error(response: httpx.Response, error_code: str) -> dict:
    """Token-endpoint errors use ``error_code`` / ``error_description``."""
    assert response.status_code >= 400
    body = response.json()
    assert body["error_code"] == error_code, body
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


@dataclass
class Kis:
    """One app key, one account, one HTTP client."""

    base_url: str
    app_key: str
    app_secret: str
    cano: str
    prdt: str = "01"
    timeout: float = 5.0
    token: str = ""
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ auth

    def issue_token(self) -> httpx.Response:
        return self.http.post("/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": self.app_key,
                                                       "appsecret": self.app_secret})

    def login(self) -> "Kis":
        response = self.issue_token()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self

    def approval_key(self) -> str:
        response = self.http.post("/oauth2/Approval", json={"grant_type": "client_credentials",
                                                             "appkey": self.app_key, "secretkey": self.app_secret})
        assert response.status_code == 200, response.text
        return response.json()["approval_key"]

    def headers(self, tr_id: str, tr_cont: str = "", **extra: str) -> dict[str, str]:
        return {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {self.token}",
                "appkey": self.app_key, "appsecret": self.app_secret, "tr_id": tr_id, "custtype": "P",
                "tr_cont": tr_cont, **extra}

    # -------------------------------------------------------------- requests

    def post(self, path: str, tr_id: str, body: dict, **kw) -> httpx.Response:
        return self.http.post(path, headers=self.headers(tr_id), json=body, **kw)

    def get(self, path: str, tr_id: str, params: dict, tr_cont: str = "") -> httpx.Response:
        return self.http.get(path, headers=self.headers(tr_id, tr_cont), params=params)

    def order_body(self, pdno: str, qty: int, price: int, ord_dvsn: str = "00", sell: bool = False) -> dict:
        body = {"CANO": self.cano, "ACNT_PRDT_CD": self.prdt, "PDNO": pdno, "ORD_DVSN": ord_dvsn,
                "ORD_QTY": str(qty), "ORD_UNPR": str(price), "EXCG_ID_DVSN_CD": "KRX", "CNDT_PRIC": ""}
        return {**body, "SLL_TYPE": "01"} if sell else body

    def order(self, pdno: str, qty: int, price: int, ord_dvsn: str = "00", tr_id: str = BUY,
              **kw) -> httpx.Response:
        body = self.order_body(pdno, qty, price, ord_dvsn, sell=tr_id[-3:] in ("11U", "01U"))
        return self.post(ORDER_CASH, tr_id, body, **kw)

    def place(self, pdno: str, qty: int, price: int, ord_dvsn: str = "00", tr_id: str = BUY) -> dict:
        """An order that must be accepted; returns ``output``."""
        response = self.order(pdno, qty, price, ord_dvsn, tr_id)
        assert response.status_code == 200 and response.json()["rt_cd"] == "0", response.text
        return response.json()["output"]

    def rvsecncl(self, odno: str, cancel: bool, qty: int = 0, price: int = 0, all_qty: bool = True,
                 ord_dvsn: str = "00", tr_id: str = "TTTC0013U") -> httpx.Response:
        body = {"CANO": self.cano, "ACNT_PRDT_CD": self.prdt, "KRX_FWDG_ORD_ORGNO": "", "ORGN_ODNO": odno,
                "ORD_DVSN": ord_dvsn, "RVSE_CNCL_DVSN_CD": "02" if cancel else "01", "ORD_QTY": str(qty),
                "ORD_UNPR": str(price), "QTY_ALL_ORD_YN": "Y" if all_qty else "N", "EXCG_ID_DVSN_CD": "KRX",
                "CNDT_PRIC": ""}
        return self.post(RVSECNCL, tr_id, body)

    def ccld_params(self, ctx_fk: str = "", ctx_nk: str = "", **over: str) -> dict:
        params = {"CANO": self.cano, "ACNT_PRDT_CD": self.prdt, "INQR_STRT_DT": today(), "INQR_END_DT": today(),
                  "SLL_BUY_DVSN_CD": "00", "PDNO": "", "CCLD_DVSN": "00", "INQR_DVSN": "00", "INQR_DVSN_3": "00",
                  "ORD_GNO_BRNO": "", "ODNO": "", "INQR_DVSN_1": "", "CTX_AREA_FK100": ctx_fk,
                  "CTX_AREA_NK100": ctx_nk, "EXCG_ID_DVSN_CD": "ALL"}
        return {**params, **over}

    def ccld_pages(self, tr_id: str = "TTTC0081R", **over: str) -> list[httpx.Response]:
        """Every page of inquire-daily-ccld, following tr_cont and the context fields."""
        pages = [self.get(DAILY_CCLD, tr_id, self.ccld_params(**over))]
        while pages[-1].headers.get("tr_cont") in ("F", "M"):
            assert len(pages) < 100, "paging does not end"
            last = pages[-1].json()
            params = self.ccld_params(last["ctx_area_fk100"], last["ctx_area_nk100"], **over)
            pages.append(self.get(DAILY_CCLD, tr_id, params, tr_cont="N"))
        return pages

    def orders(self, tr_id: str = "TTTC0081R", **over: str) -> dict[str, dict]:
        """inquire-daily-ccld rows by odno (asserting no duplicates across pages)."""
        rows = [row for page in self.ccld_pages(tr_id, **over) for row in page.json()["output1"]]
        by_no = {row["odno"]: row for row in rows}
        assert len(by_no) == len(rows), "an order appeared twice"
        return by_no

    def price(self, pdno: str) -> dict:
        response = self.get(PRICE, "FHKST01010100", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": pdno})
        assert response.json()["rt_cd"] == "0", response.text
        return response.json()["output"]


FAST = 10_000  # requests per second: high enough that only the rate-limit tests ever see EGW00201


@contextmanager
def simulator(**overrides) -> Iterator[SimHandle]:
    """A fresh in-process simulator (default scenario, with ``overrides``)."""
    overrides.setdefault("rate_limit_per_sec", FAST)
    with running_simulator(**overrides) as handle:
        yield handle


def client(handle: SimHandle, env: str = "real", **kw) -> Kis:
    """A client for the scenario's first app key of ``env`` (on that env's host) and its first account."""
    key, account = handle.app_key(env), handle.scenario.accounts[0]
    url = handle.paper_rest_url if env == "paper" else handle.rest_url
    return Kis(url, key.app_key, key.app_secret, account.cano, account.acnt_prdt_cd, **kw)


# -------------------------------------------------------------------- WebSocket


def decrypt(payload: str, key: str, iv: str) -> str:
    """AES-256-CBC, base64, PKCS#7: key and iv are the strings from the subscribe reply."""
    decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
    padded = decryptor.update(base64.b64decode(payload)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


@dataclass
class Frame:
    """One data frame, decrypted: ``records`` is a list of field lists."""

    tr_id: str
    records: list[list[str]]


class NoticeSocket:
    """A WebSocket session: subscribe, read JSON replies and decrypted notice frames."""

    def __init__(self, ws_url: str, approval_key: str):
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(connect(ws_url, open_timeout=5))
        self.approval_key = approval_key
        self.keys: dict[str, tuple[str, str]] = {}
        self.pingpongs: list[str] = []

    def close(self) -> None:
        self._stack.close()

    def send(self, tr_id: str, tr_key: str, tr_type: str = "1", approval_key: str | None = None) -> None:
        header = {"approval_key": approval_key or self.approval_key, "custtype": "P", "tr_type": tr_type,
                  "content-type": "utf-8"}
        self.ws.send(json.dumps({"header": header, "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}}))

    def subscribe(self, tr_id: str, tr_key: str, **kw) -> dict:
        self.send(tr_id, tr_key, "1", **kw)
        reply = self.next_json()
        if reply["body"]["rt_cd"] == "0":
            out = reply["body"]["output"]
            self.keys[tr_id] = (out["key"], out["iv"])
        return reply

    def recv(self, timeout: float = 5.0) -> str | Frame | dict:
        """The next message, PINGPONG frames recorded (and echoed) but skipped."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if text.startswith("{"):
                data = json.loads(text)
                if data["header"].get("tr_id") == "PINGPONG":
                    self.pingpongs.append(text)
                    self.ws.send(text)
                    continue
                return data
            return self._frame(text)

    def _frame(self, text: str) -> Frame:
        enc, tr_id, count, payload = text.split("|", 3)
        plain = decrypt(payload, *self.keys[tr_id]) if enc == "1" else payload
        fields = plain.split("^")
        n = int(count)
        assert len(fields) % n == 0, (count, len(fields))
        width = len(fields) // n
        return Frame(tr_id, [fields[i * width:(i + 1) * width] for i in range(n)])

    def next_json(self, timeout: float = 5.0) -> dict:
        message = self.recv(timeout)
        assert isinstance(message, dict), message
        return message

    def next_notice(self, timeout: float = 5.0) -> list[str]:
        """The next notice record (one-record frames)."""
        message = self.recv(timeout)
        assert isinstance(message, Frame), message
        assert len(message.records) == 1
        return message.records[0]

    def barrier(self, tr_id: str = "H0STCNI0", tr_key: str = "nobody") -> list:
        """Everything that arrives before the reply to a fresh request (which comes after any queued notice)."""
        self.send(tr_id, tr_key, "2")
        seen: list = []
        while True:
            message = self.recv()
            if isinstance(message, dict) and message["body"].get("msg_cd") in UNSUBSCRIBE_REPLIES \
                    and message["header"].get("tr_key") == tr_key:
                return seen
            seen.append(message)


# Field positions (current 26-field layout; the legacy 23-field one is its prefix).
F = {name: i for i, name in enumerate((
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND", "ODER_COND",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN", "BRNC_NO",
    "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE",
    "CNTG_ISNM40", "ODER_PRC"))}
