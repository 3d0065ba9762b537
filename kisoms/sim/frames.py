"""Execution-notice frames exactly as KIS sends them: ``1|tr_id|count|base64(AES-256-CBC(fields))``."""

from __future__ import annotations

import base64
import random
import string

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kisoms.sim.venue import ORGNO, Event

# KIS's 실시간체결통보 (H0STCNI0/H0STCNI9) layouts. Current (26 fields): examples_llm/domestic_stock/ccnl_notice.
CURRENT_FIELDS = (
    "CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND", "ODER_COND",
    "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN", "BRNC_NO",
    "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS", "CRDT_LOAN_DATE",
    "CNTG_ISNM40", "ODER_PRC",
)
# The older 23-field layout (python-kis still parses it): the same first 17, then a different tail. Not the
# current layout cut at 23.
LEGACY_FIELDS = CURRENT_FIELDS[:17] + (
    "ACNT_NAME", "CNTG_ISNM", "CRDT_CLS", "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC",
)
LAYOUTS = {"current": CURRENT_FIELDS, "legacy": LEGACY_FIELDS}
RCTF = {"new": "0", "amend": "1", "cancel": "2"}


def new_key_iv(rng: random.Random) -> tuple[str, str]:
    """A 32-character key and a 16-character iv, as KIS hands out in the subscribe reply."""
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choices(alphabet, k=32)), "".join(rng.choices(alphabet, k=16))


def encrypt(text: str, key: str, iv: str) -> str:
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def notice_values(event: Event, symbol_name: str, account_name: str) -> dict[str, str]:
    o = event.order
    is_fill = event.kind == "fill"
    qty = event.qty if (is_fill or o.kind == "cancel" or event.qty) else o.qty
    return {
        "CUST_ID": event.hts_id, "ACNT_NO": o.account.replace("-", ""), "ODER_NO": o.odno,
        "OODER_NO": o.orgn_odno, "SELN_BYOV_CLS": o.side.kis_code, "RCTF_CLS": RCTF[o.kind],
        "ODER_KIND": o.ord_dvsn, "ODER_COND": "0", "STCK_SHRN_ISCD": o.symbol,
        "CNTG_QTY": str(qty), "CNTG_UNPR": str(event.price if is_fill else o.price),
        "STCK_CNTG_HOUR": event.time, "RFUS_YN": "1" if event.refused else "0", "CNTG_YN": "2" if is_fill else "1",
        "ACPT_YN": "2" if is_fill or o.kind != "new" else "1", "BRNC_NO": ORGNO,
        "ODER_QTY": str(event.qty if o.kind == "cancel" else o.qty), "ACNT_NAME": account_name,
        "ORD_COND_PRC": "", "ORD_EXG_GB": "1", "POPUP_YN": "N", "FILLER": "", "CRDT_CLS": "10",
        "CRDT_LOAN_DATE": "", "CNTG_ISNM": symbol_name, "CNTG_ISNM40": symbol_name, "ODER_PRC": str(o.price),
    }


def notice_text(values: dict[str, str], layout: str) -> str:
    return "^".join(values[f] for f in LAYOUTS[layout])


def data_frame(tr_id: str, texts: list[str], key: str, iv: str) -> str:
    """One encrypted frame carrying ``texts`` records back to back."""
    return f"1|{tr_id}|{len(texts)}|{encrypt('^'.join(texts), key, iv)}"
