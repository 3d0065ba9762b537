"""Typed KIS replies. KIS sends numbers as strings; anything that does not parse names the field."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kisoms.domain.codes import InstrumentKind, Side
from kisoms.errors import BrokerProtocolError


def num(data: dict, key: str, what: str, *, default: int | None = None) -> int:
    """An integer field sent as a string ("00123", "1,000", "71000.0")."""
    raw = lookup(data, key)
    if raw is None or str(raw).strip() == "":
        if default is not None:
            return default
        raise BrokerProtocolError(f"{what}: field {key} is missing")
    text = str(raw).strip().replace(",", "")
    try:
        value = float(text)
    except ValueError:
        raise BrokerProtocolError(f"{what}: field {key} is not a number: {raw!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise BrokerProtocolError(f"{what}: field {key} is not a whole number: {raw!r}")
    return int(value)


def output_object(body: dict, what: str) -> dict:
    """``body["output"]``, which must be a JSON object."""
    out = body.get("output")
    if out is None:
        raise BrokerProtocolError(f"{what}: output is missing")
    if not isinstance(out, dict):
        raise BrokerProtocolError(f"{what}: output is a {type(out).__name__}, not an object")
    return out


def lookup(data: dict, key: str) -> Any:
    """``data[key]`` with the key in any case (KIS documents some keys upper-case for one endpoint and
    lower-case for another, and misspells a few): the exact key first, then a case-insensitive match."""
    if key in data:
        return data[key]
    lowered = key.lower()
    return next((v for k, v in data.items() if isinstance(k, str) and k.lower() == lowered), None)


def text(data: dict, key: str, what: str, *, required: bool = True) -> str:
    """A text field, stripped; a missing required field or a non-scalar value names the field."""
    raw = lookup(data, key)
    if raw is None:
        if required:
            raise BrokerProtocolError(f"{what}: field {key} is missing")
        return ""
    if isinstance(raw, (dict, list)):
        raise BrokerProtocolError(f"{what}: field {key} is a {type(raw).__name__}, not text")
    return str(raw).strip()


@dataclass(frozen=True)
class OrderAck:
    """KIS accepted an order-cash or order-rvsecncl request."""

    odno: str
    krx_fwdg_ord_orgno: str
    ord_tmd: str
    tr_id: str
    msg_cd: str
    msg1: str
    raw: dict = field(repr=False)

    @classmethod
    def parse(cls, body: dict, tr_id: str) -> "OrderAck":
        what = "order reply"
        out = output_object(body, what)
        odno = text(out, "ODNO", what)  # any case: KIS documents order-rvsecncl's output keys lower-case
        if not odno:
            raise BrokerProtocolError("order reply: field ODNO is empty")
        return cls(odno=odno, krx_fwdg_ord_orgno=text(out, "KRX_FWDG_ORD_ORGNO", what),
                   ord_tmd=text(out, "ORD_TMD", what, required=False), tr_id=tr_id,
                   msg_cd=str(body.get("msg_cd", "")), msg1=str(body.get("msg1", "")).strip(), raw=body)


@dataclass(frozen=True)
class DailyOrderRow:
    """One row of inquire-daily-ccld (an order, an amend or a cancel)."""

    ord_dt: str
    ord_gno_brno: str
    odno: str
    orgn_odno: str
    side: Side
    pdno: str
    ord_qty: int
    ord_unpr: int
    ord_tmd: str
    tot_ccld_qty: int
    tot_ccld_amt: int
    avg_prvs: int
    rmn_qty: int
    rjct_qty: int
    cncl_yn: str
    ord_dvsn_name: str
    ord_dvsn_cd: str
    excg_id_dvsn_cd: str
    raw: dict = field(repr=False)

    @property
    def is_cancel(self) -> bool:
        return self.cncl_yn.upper() == "Y"

    @classmethod
    def parse(cls, row: dict) -> "DailyOrderRow":
        what = f"inquire-daily-ccld row {row.get('odno', '?')}"
        try:
            side = Side.from_kis_code(text(row, "sll_buy_dvsn_cd", what))
        except KeyError:
            raise BrokerProtocolError(f"{what}: field sll_buy_dvsn_cd is not 01/02: {row.get('sll_buy_dvsn_cd')!r}")
        return cls(
            ord_dt=text(row, "ord_dt", what), ord_gno_brno=text(row, "ord_gno_brno", what, required=False),
            odno=text(row, "odno", what), orgn_odno=text(row, "orgn_odno", what, required=False), side=side,
            pdno=text(row, "pdno", what), ord_qty=num(row, "ord_qty", what), ord_unpr=num(row, "ord_unpr", what, default=0),
            ord_tmd=text(row, "ord_tmd", what, required=False), tot_ccld_qty=num(row, "tot_ccld_qty", what, default=0),
            tot_ccld_amt=num(row, "tot_ccld_amt", what, default=0), avg_prvs=num(row, "avg_prvs", what, default=0),
            rmn_qty=num(row, "rmn_qty", what, default=0), rjct_qty=num(row, "rjct_qty", what, default=0),
            cncl_yn=text(row, "cncl_yn", what, required=False), ord_dvsn_name=text(row, "ord_dvsn_name", what, required=False),
            ord_dvsn_cd=text(row, "ord_dvsn_cd", what, required=False),
            excg_id_dvsn_cd=text(row, "excg_id_dvsn_cd", what, required=False), raw=row)  # also excg_id_dvsn_Cd


ETF_MARKERS = ("ETF", "ETN", "ELW")


@dataclass(frozen=True)
class Quote:
    """inquire-price: current price, base (previous close), daily limits, tick."""

    symbol: str
    current_price: int
    base_price: int
    upper_limit: int
    lower_limit: int
    tick: int | None
    kind: InstrumentKind
    raw: dict = field(repr=False)

    @classmethod
    def parse(cls, symbol: str, body: dict) -> "Quote":
        what = f"inquire-price {symbol}"
        out = output_object(body, what)
        market = str(out.get("rprs_mrkt_kor_name", "")) + str(out.get("bstp_kor_isnm", ""))
        kind = InstrumentKind.ETF if any(m in market.upper() for m in ETF_MARKERS) else InstrumentKind.STOCK
        tick = num(out, "aspr_unit", what, default=0) or None
        return cls(symbol=symbol, current_price=num(out, "stck_prpr", what), base_price=num(out, "stck_sdpr", what),
                   upper_limit=num(out, "stck_mxpr", what), lower_limit=num(out, "stck_llam", what), tick=tick,
                   kind=kind, raw=body)


@dataclass(frozen=True)
class Page:
    """One page of a paged inquiry."""

    rows: list[dict]
    summary: Any
    more: bool
    fk100: str
    nk100: str
