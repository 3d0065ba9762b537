"""How the venue's state looks in KIS's inquiry replies (lower-case keys, numbers as strings).

Every reply object carries its endpoint's full documented field list (``fields.py``); the fields the
venue does not model get KIS-like blanks.
"""

from __future__ import annotations

from kisoms.domain.codes import OrderType
from kisoms.domain.ticks import tick_size
from kisoms.sim import fields
from kisoms.sim.venue import ORGNO, SimOrder, Venue

DVSN_NAMES = {t.ord_dvsn: t.spec.label.split(" ")[0] for t in OrderType}
CCLD_CONDITION = {"11": "IOC", "12": "FOK", "13": "IOC", "14": "FOK", "15": "IOC", "16": "FOK"}
SIDE_NAMES = {"01": "매도", "02": "매수"}


def _order_fields(venue: Venue, o: SimOrder) -> dict[str, str]:
    """What daily-ccld and psbl-rvsecncl rows share."""
    return {
        "ord_gno_brno": ORGNO, "odno": o.odno, "orgn_odno": o.orgn_odno, "ord_dvsn_name": DVSN_NAMES.get(o.ord_dvsn, ""),
        "ord_dvsn_cd": o.ord_dvsn, "sll_buy_dvsn_cd": o.side.kis_code, "pdno": o.symbol,
        "prdt_name": venue.symbols[o.symbol].name, "ord_qty": str(o.qty), "ord_unpr": str(o.price),
        "ord_tmd": o.ord_tmd, "tot_ccld_qty": str(o.filled), "tot_ccld_amt": str(o.amount), "excg_dvsn_cd": "01",
        "excg_id_dvsn_cd": o.exchange,
    }


def daily_row(venue: Venue, o: SimOrder) -> dict[str, str]:
    """One inquire-daily-ccld output1 row."""
    return fields.shape(fields.DAILY_CCLD_ROW, {
        **_order_fields(venue, o), "ord_dt": o.ord_dt, "sll_buy_dvsn_cd_name": SIDE_NAMES[o.side.kis_code],
        "avg_prvs": str(o.amount // o.filled if o.filled else 0), "cncl_yn": "Y" if o.kind == "cancel" else "N",
        "rmn_qty": str(o.remaining), "rjct_qty": "0", "ccld_cndt_name": CCLD_CONDITION.get(o.ord_dvsn, "없음"),
        "cncl_cfrm_qty": str(o.cancelled), "prdt_type_cd": "300", "ord_orgno": ORGNO,
    })


def daily_summary(orders: list[SimOrder]) -> dict[str, str]:
    """inquire-daily-ccld output2: totals over every order of the inquiry (all pages)."""
    qty, amount = sum(o.filled for o in orders), sum(o.amount for o in orders)
    return fields.shape(fields.DAILY_CCLD_SUMMARY, {
        "tot_ord_qty": str(sum(o.qty for o in orders)), "tot_ccld_qty": str(qty), "tot_ccld_amt": str(amount),
        "pchs_avg_pric": str(amount // qty if qty else 0)})


def psbl_row(venue: Venue, o: SimOrder) -> dict[str, str]:
    """One inquire-psbl-rvsecncl row: an order with quantity left to amend or cancel (``psbl_qty``)."""
    return fields.shape(fields.PSBL_RVSECNCL_ROW, {
        **_order_fields(venue, o), "rvse_cncl_dvsn_name": "정정" if o.kind == "amend" else "",
        "psbl_qty": str(o.remaining), "excg_id_dvsn_name": o.exchange})


def _sign(change: int) -> str:
    return "2" if change > 0 else "5" if change < 0 else "3"  # KIS: 2 up, 3 flat, 5 down


def quote(venue: Venue, code: str, today: str) -> dict[str, str]:
    """inquire-price output (82 fields); the simulator's history is one day (``today``, YYYYMMDD) long."""
    s = venue.symbols[code]
    lower, upper = venue.limits(code)
    price = venue.prices[code]
    change = price - s.base_price
    high, low = str(max(price, s.base_price)), str(min(price, s.base_price))
    history = {f"{p}_{hl}pr{suffix}": (value if suffix == "" else today)
               for p in ("d250", "w52") for hl, value in (("hg", high), ("lw", low)) for suffix in ("", "_date")}
    history.update({"stck_dryy_hgpr": high, "stck_dryy_lwpr": low, "dryy_hgpr_date": today, "dryy_lwpr_date": today})
    return fields.shape(fields.PRICE, {**history,
        "iscd_stat_cls_code": "55", "rprs_mrkt_kor_name": "KOSPI200" if s.kind.value == "stock" else "ETF",
        "bstp_kor_isnm": s.name, "temp_stop_yn": "N", "stck_prpr": str(price), "prdy_vrss": str(change),
        "prdy_vrss_sign": _sign(change), "prdy_ctrt": f"{change * 100 / s.base_price:.2f}",
        "stck_oprc": str(s.base_price), "stck_hgpr": high, "stck_lwpr": low, "stck_mxpr": str(upper),
        "stck_llam": str(lower),
        "stck_sdpr": str(s.base_price), "wghn_avrg_stck_prc": str(price), "aspr_unit": str(tick_size(price, s.kind)),
        "hts_deal_qty_unit_val": "1", "stck_shrn_iscd": code, "crdt_able_yn": "Y", "fcam_cnnm": "KRW",
        "cpfn_cnnm": "KRW", "new_hgpr_lwpr_cls_code": "", "mrkt_warn_cls_code": "00", "vi_cls_code": "N",
        "ovtm_vi_cls_code": "N", "mang_issu_cls_code": "N", "marg_rate": "20.00", "grmn_rate_cls_code": "40",
    })


def search_info(venue: Venue, code: str) -> dict[str, str]:
    """search-info (상품기본조회) output for a listed stock or ETF."""
    s = venue.symbols[code]
    return fields.shape(fields.SEARCH_INFO, {
        "pdno": code, "prdt_type_cd": "300", "prdt_name": s.name, "prdt_name120": s.name, "prdt_abrv_name": s.name,
        "prdt_eng_name": code, "prdt_eng_name120": code, "prdt_eng_abrv_name": code, "std_pdno": f"KR7{code}003",
        "shtn_pdno": code, "prdt_sale_stat_cd": "00", "prdt_clsf_cd": "101210" if s.kind.value == "stock"
        else "101810", "prdt_clsf_name": "주권" if s.kind.value == "stock" else "ETF",
    })


def balance_rows(venue: Venue, account: str) -> list[dict[str, str]]:
    """inquire-balance output1: one row per holding."""
    acct = venue.account(account)
    rows = []
    for code, qty in sorted(acct.holdings.items()):
        if not qty:
            continue
        price, cost = venue.prices.get(code, 0), venue.costs.get((acct.key, code), 0)
        rows.append(fields.shape(fields.BALANCE_ROW, {
            "pdno": code, "prdt_name": venue.symbols[code].name if code in venue.symbols else code,
            "trad_dvsn_name": "현금", "hldg_qty": str(qty),
            "ord_psbl_qty": str(qty - venue._reserved_shares(account, code)), "prpr": str(price),
            **_valued(qty, cost, qty * price)}))
    return rows


def _valued(qty: int, cost: int, value: int) -> dict[str, str]:
    """A holding's purchase and valuation fields: average price (4 decimals), P&L and its rate (%, 2)."""
    rate = f"{(value - cost) * 100 / cost:.2f}" if cost else "0.00"
    return {"pchs_avg_pric": f"{cost / qty:.4f}", "pchs_amt": str(cost), "evlu_amt": str(value),
            "evlu_pfls_amt": str(value - cost), "evlu_pfls_rt": rate, "evlu_erng_rt": rate}


def balance_summary(venue: Venue, account: str, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """inquire-balance output2: a one-element list, as KIS sends it."""
    cash = venue.account(account).cash
    stocks = sum(int(r["evlu_amt"]) for r in rows)
    cost = sum(int(r["pchs_amt"]) for r in rows)
    return [fields.shape(fields.BALANCE_SUMMARY, {
        "dnca_tot_amt": str(cash), "nxdy_excc_amt": str(cash), "prvs_rcdl_excc_amt": str(cash),
        "pchs_amt_smtl_amt": str(cost), "evlu_pfls_smtl_amt": str(stocks - cost),
        "scts_evlu_amt": str(stocks), "evlu_amt_smtl_amt": str(stocks), "tot_evlu_amt": str(cash + stocks),
        "nass_amt": str(cash + stocks)})]


def buying_power(venue: Venue, account: str, code: str, price: str) -> dict[str, str]:
    """inquire-psbl-order output (12 fields): what the free cash buys at ``price`` (or the current price)."""
    acct = venue.account(account)
    free = acct.cash - venue._reserved_cash(account)
    unit = int(price) if price.strip().isdigit() and int(price) > 0 else venue.prices.get(code, 1)
    qty = str(free // max(unit, 1))
    return fields.shape(fields.PSBL_ORDER, {
        "ord_psbl_cash": str(free), "psbl_qty_calc_unpr": str(unit), "nrcvb_buy_amt": str(free),
        "nrcvb_buy_qty": qty, "max_buy_amt": str(free), "max_buy_qty": qty})
