"""How the venue's state looks in KIS's inquiry replies (lower-case keys, numbers as strings)."""

from __future__ import annotations

from kisoms.domain.codes import OrderType
from kisoms.domain.ticks import tick_size
from kisoms.sim.venue import ORGNO, SimOrder, Venue

DVSN_NAMES = {t.ord_dvsn: t.spec.label.split(" ")[0] for t in OrderType}


def daily_row(venue: Venue, o: SimOrder) -> dict[str, str]:
    """One inquire-daily-ccld output1 row."""
    name = venue.symbols[o.symbol].name
    avg = o.amount // o.filled if o.filled else 0
    return {
        "ord_dt": o.ord_dt, "ord_gno_brno": ORGNO, "odno": o.odno, "orgn_odno": o.orgn_odno,
        "ord_dvsn_name": DVSN_NAMES.get(o.ord_dvsn, ""), "ord_dvsn_cd": o.ord_dvsn,
        "sll_buy_dvsn_cd": o.side.kis_code, "sll_buy_dvsn_cd_name": "매수" if o.side.kis_code == "02" else "매도",
        "pdno": o.symbol, "prdt_name": name, "ord_qty": str(o.qty), "ord_unpr": str(o.price),
        "ord_tmd": o.ord_tmd, "tot_ccld_qty": str(o.filled), "avg_prvs": str(avg),
        "cncl_yn": "Y" if o.kind == "cancel" else "N", "tot_ccld_amt": str(o.amount),
        "loan_dt": "", "ordr_empno": "", "ord_dvsn_cd_name": "", "rmn_qty": str(o.remaining), "rjct_qty": "0",
        "ccld_cndt_name": {"11": "IOC", "12": "FOK", "13": "IOC", "14": "FOK", "15": "IOC", "16": "FOK"}.get(
            o.ord_dvsn, "없음"),
        "cncl_cfrm_qty": str(o.cancelled), "infm_tmd": "", "ctac_tlno": "", "prdt_type_cd": "300",
        "excg_dvsn_cd": "01", "excg_id_dvsn_cd": o.exchange,
    }


def quote(venue: Venue, code: str) -> dict[str, str]:
    s = venue.symbols[code]
    lower, upper = venue.limits(code)
    price = venue.prices[code]
    return {
        "stck_prpr": str(price), "stck_sdpr": str(s.base_price), "stck_mxpr": str(upper), "stck_llam": str(lower),
        "prdy_vrss": str(price - s.base_price), "aspr_unit": str(tick_size(price, s.kind)),
        "stck_oprc": str(s.base_price), "stck_hgpr": str(max(price, s.base_price)),
        "stck_lwpr": str(min(price, s.base_price)), "rprs_mrkt_kor_name": "KOSPI200" if s.kind.value == "stock"
        else "ETF", "bstp_kor_isnm": s.name, "iscd_stat_cls_code": "55", "temp_stop_yn": "N",
    }


def balance(venue: Venue, account: str) -> dict:
    acct = venue.account(account)
    rows = [{"pdno": code, "prdt_name": venue.symbols[code].name if code in venue.symbols else code,
             "hldg_qty": str(qty), "ord_psbl_qty": str(qty - venue._reserved_shares(account, code)),
             "prpr": str(venue.prices.get(code, 0)), "evlu_amt": str(qty * venue.prices.get(code, 0))}
            for code, qty in sorted(acct.holdings.items()) if qty]
    summary = [{"dnca_tot_amt": str(acct.cash), "tot_evlu_amt": str(acct.cash + sum(int(r["evlu_amt"]) for r in rows))}]
    return {"output1": rows, "output2": summary}


def buying_power(venue: Venue, account: str, code: str, price: str) -> dict[str, str]:
    acct = venue.account(account)
    free = acct.cash - venue._reserved_cash(account)
    unit = int(price) if price.strip().isdigit() and int(price) > 0 else venue.prices.get(code, 1)
    return {"ord_psbl_cash": str(free), "nrcvb_buy_amt": str(free), "nrcvb_buy_qty": str(free // max(unit, 1)),
            "max_buy_amt": str(free), "max_buy_qty": str(free // max(unit, 1))}
