"""inquire-price, inquire-balance and inquire-psbl-order reply shapes."""

from __future__ import annotations

from kisoms.sim.scenario import SimSymbol, default_scenario
from sim_helpers import BALANCE, PSBL_ORDER, SELL, assert_kis_error, client, simulator


def test_price_has_current_base_and_limits(kis):
    q = kis.price("005930")
    assert (q["stck_prpr"], q["stck_sdpr"], q["stck_mxpr"], q["stck_llam"], q["aspr_unit"]) == \
        ("71000", "71000", "92300", "49700", "100")


def test_limits_are_rounded_inward_to_ticks():
    scenario = default_scenario()
    scenario.symbols.append(SimSymbol(code="123450", name="테스트", base_price=12_340))
    with simulator(scenario=scenario) as sim:
        kis = client(sim).login()
        q = kis.price("123450")
        kis.close()
    assert (q["stck_mxpr"], q["stck_llam"]) == ("16040", "8640")  # 16042 down to a 10 tick, 8638 up to a 5 tick


def test_price_follows_the_venue(sim, kis):
    sim.admin.set_price("005930", 72_000)
    q = kis.price("005930")
    assert (q["stck_prpr"], q["stck_sdpr"], q["prdy_vrss"]) == ("72000", "71000", "1000")


def test_price_of_an_unknown_symbol_is_a_kis_error(kis):
    response = kis.get("/uapi/domestic-stock/v1/quotations/inquire-price", "FHKST01010100",
                       {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "999999"})
    assert_kis_error(response)


def balance(kis) -> dict:
    params = {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt, "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
              "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
              "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
    body = kis.get(BALANCE, "TTTC8434R", params).json()
    assert body["rt_cd"] == "0", body
    return body


def test_balance_lists_holdings_and_cash(kis):
    body = balance(kis)
    holdings = {r["pdno"]: r for r in body["output1"]}
    assert holdings["005930"]["hldg_qty"] == "1000" and holdings["005930"]["ord_psbl_qty"] == "1000"
    assert isinstance(body["output2"], list) and body["output2"][0]["dnca_tot_amt"] == "100000000"


def test_balance_moves_with_a_fill(kis):
    kis.place("005930", 10, 0, ord_dvsn="01", tr_id=SELL)
    body = balance(kis)
    assert {r["pdno"]: r["hldg_qty"] for r in body["output1"]}["005930"] == "990"
    assert body["output2"][0]["dnca_tot_amt"] == str(100_000_000 + 10 * 71_000)


def test_resting_sell_reduces_orderable_quantity(kis):
    kis.place("005930", 10, 80_000, tr_id=SELL)
    row = {r["pdno"]: r for r in balance(kis)["output1"]}["005930"]
    assert (row["hldg_qty"], row["ord_psbl_qty"]) == ("1000", "990")


def psbl_order(kis, price: str) -> dict:
    params = {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt, "PDNO": "005930", "ORD_UNPR": price, "ORD_DVSN": "00",
              "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}
    body = kis.get(PSBL_ORDER, "TTTC8908R", params).json()
    assert body["rt_cd"] == "0", body
    return body["output"]


def test_psbl_order_shape(kis):
    out = psbl_order(kis, "70000")
    assert all(isinstance(out[k], str) for k in ("ord_psbl_cash", "nrcvb_buy_amt", "nrcvb_buy_qty", "max_buy_qty"))
    assert out["ord_psbl_cash"] == "100000000" and out["nrcvb_buy_qty"] == str(100_000_000 // 70_000)


def test_psbl_order_drops_by_a_resting_buy(kis):
    kis.place("005930", 100, 60_000)
    assert psbl_order(kis, "70000")["ord_psbl_cash"] == str(100_000_000 - 6_000_000)


def test_balance_carries_each_holdings_cost_and_its_profit(sim, kis):
    """A scenario's holding cost its base price; a buy adds what it paid, a sell takes its share of the cost
    (average-price method), and P&L is the valuation less that cost."""
    start = {r["pdno"]: r for r in balance(kis)["output1"]}["005930"]
    assert (start["pchs_avg_pric"], start["pchs_amt"], start["evlu_pfls_amt"]) == ("71000.0000", "71000000", "0")
    sim.admin.set_price("005930", 72_000)
    kis.place("005930", 10, 72_000)  # marketable: fills at the current price, 72,000
    row = {r["pdno"]: r for r in balance(kis)["output1"]}["005930"]
    assert (row["hldg_qty"], row["pchs_amt"], row["pchs_avg_pric"]) == ("1010", "71720000", "71009.9010")
    assert (row["evlu_amt"], row["evlu_pfls_amt"], row["evlu_pfls_rt"]) == ("72720000", "1000000", "1.39")
    kis.place("005930", 505, 0, ord_dvsn="01", tr_id=SELL)
    body = balance(kis)
    row = {r["pdno"]: r for r in body["output1"]}["005930"]
    assert (row["hldg_qty"], row["pchs_amt"], row["pchs_avg_pric"]) == ("505", "35860000", "71009.9010")
    summary = body["output2"][0]
    assert int(summary["pchs_amt_smtl_amt"]) == sum(int(r["pchs_amt"]) for r in body["output1"])
    assert int(summary["evlu_pfls_smtl_amt"]) == sum(int(r["evlu_pfls_amt"]) for r in body["output1"])
