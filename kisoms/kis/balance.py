"""inquire-balance, every page, parsed into holdings and cash; buying power from inquire-psbl-order.

KIS sends numbers as strings (averages with decimals, e.g. ``"70125.5000"``). A field a reply lacks is
None here, never a made-up zero: the simulator and older replies leave some out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kisoms.domain.codes import split_account
from kisoms.errors import BrokerProtocolError

BALANCE_PATH = "/uapi/domestic-stock/v1/trading/inquire-balance"
MAX_PAGES = 200
# inquire-psbl-order needs a symbol; a market order (ORD_DVSN 01, price 0) for a liquid one gives the
# account's orderable cash. Which symbol does not matter for ord_psbl_cash (unconfirmed): one constant.
BUYING_POWER_SYMBOL = "005930"


def _number(row: dict, key: str, what: str) -> float | None:
    raw = row.get(key)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return float(str(raw).replace(",", ""))
    except ValueError:
        raise BrokerProtocolError(f"{what}: {key}={raw!r} is not a number") from None


def _int(row: dict, key: str, what: str) -> int | None:
    value = _number(row, key, what)
    return None if value is None else int(round(value))


@dataclass(frozen=True)
class Holding:
    """One symbol the account holds."""

    symbol: str
    name: str
    qty: int
    orderable_qty: int | None
    avg_price: float | None
    last_price: int | None
    valuation: int | None
    unrealised_pnl: int | None

    @classmethod
    def parse(cls, row: dict) -> "Holding":
        what = f"inquire-balance row {row.get('pdno')!r}"
        qty, avg, last = _int(row, "hldg_qty", what) or 0, _number(row, "pchs_avg_pric", what), _int(row, "prpr", what)
        valuation = _int(row, "evlu_amt", what)
        if valuation is None and last is not None:
            valuation = qty * last
        pnl = _int(row, "evlu_pfls_amt", what)
        if pnl is None and avg is not None and valuation is not None:
            pnl = int(round(valuation - avg * qty))
        return cls(symbol=str(row.get("pdno", "")).strip(), name=str(row.get("prdt_name", "")).strip(), qty=qty,
                   orderable_qty=_int(row, "ord_psbl_qty", what), avg_price=avg, last_price=last,
                   valuation=valuation, unrealised_pnl=pnl)


@dataclass(frozen=True)
class Balance:
    """An account's holdings, cash (deposit), total valuation and buying power, as the broker reports them."""

    account: str
    holdings: tuple[Holding, ...]
    cash: int | None
    total_valuation: int | None
    buying_power: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "cash": self.cash, "buying_power": self.buying_power,
                "total_valuation": self.total_valuation, "holdings": [asdict(h) for h in self.holdings]}


def _summary(output2: Any) -> dict:
    if isinstance(output2, list):
        return output2[0] if output2 and isinstance(output2[0], dict) else {}
    return output2 if isinstance(output2, dict) else {}


def _params(account: str) -> dict:
    cano, prdt = split_account(account)
    return {"CANO": cano, "ACNT_PRDT_CD": prdt, "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
            "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
            "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}


def balance_pages(client, account: str) -> tuple[list[dict], dict]:
    """Every output1 row of inquire-balance (following tr_cont) and the last page's output2 summary."""
    params, rows, tr_cont = _params(account), [], ""
    for _ in range(MAX_PAGES):
        page = client._page(BALANCE_PATH, client.tr.balance, "inquire-balance", params, tr_cont)
        rows.extend(page.rows)
        if not page.more:
            return rows, _summary(page.summary)
        if (page.fk100, page.nk100) == (params["CTX_AREA_FK100"], params["CTX_AREA_NK100"]):
            raise BrokerProtocolError("inquire-balance: more pages announced but CTX_AREA_NK100 did not advance")
        params.update(CTX_AREA_FK100=page.fk100, CTX_AREA_NK100=page.nk100)
        tr_cont = "N"
    raise BrokerProtocolError(f"inquire-balance: more than {MAX_PAGES} pages")


def fetch_balance(client, account: str) -> Balance:
    """The account's balance: every holding (rows with a zero quantity left out), cash and buying power."""
    rows, summary = balance_pages(client, account)
    holdings = tuple(h for h in (Holding.parse(r) for r in rows) if h.qty)
    power = client.inquire_psbl_order(account, BUYING_POWER_SYMBOL, "01", 0)
    power_row = power.get("output", {}) if isinstance(power, dict) else {}
    return Balance(account=account, holdings=holdings, cash=_int(summary, "dnca_tot_amt", "inquire-balance"),
                   total_valuation=_int(summary, "tot_evlu_amt", "inquire-balance"),
                   buying_power=_int(power_row, "ord_psbl_cash", "inquire-psbl-order"))
