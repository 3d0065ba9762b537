"""order-rvsecncl numbering: each amend/cancel is a new ODNO linked by ORGN_ODNO; the remainder moves."""

from __future__ import annotations

from sim_helpers import PSBL_RVSECNCL, assert_kis_error

OPEN_BUY = 60_000


def accepted(response) -> dict:
    body = response.json()
    assert response.status_code == 200 and body["rt_cd"] == "0", response.text
    assert all(isinstance(body["output"][k], str) for k in ("KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD"))
    return body["output"]


def test_amend_gets_a_new_number_linked_to_the_original(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    new = accepted(kis.rvsecncl(orig, cancel=False, price=61_000))["ODNO"]
    rows = kis.orders()
    assert new != orig and rows[new]["orgn_odno"] == orig
    assert (rows[new]["ord_qty"], rows[new]["rmn_qty"], rows[new]["ord_unpr"]) == ("5", "5", "61000")
    assert rows[orig]["rmn_qty"] == "0"


def test_partial_amend_moves_only_the_given_quantity(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    new = accepted(kis.rvsecncl(orig, cancel=False, qty=2, price=61_000, all_qty=False))["ODNO"]
    rows = kis.orders()
    assert (rows[orig]["rmn_qty"], rows[new]["rmn_qty"]) == ("3", "2")


def test_cancel_gets_a_new_number_and_takes_the_remainder_off(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    cancel = accepted(kis.rvsecncl(orig, cancel=True))["ODNO"]
    rows = kis.orders()
    assert cancel != orig and rows[cancel]["orgn_odno"] == orig and rows[cancel]["cncl_yn"] == "Y"
    assert rows[orig]["rmn_qty"] == "0" and rows[cancel]["cncl_cfrm_qty"] == "5"


def test_fill_after_amend_carries_the_new_number(sim, kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    new = accepted(kis.rvsecncl(orig, cancel=False, price=65_000))["ODNO"]
    sim.admin.set_price("005930", 65_000)
    rows = kis.orders()
    assert (rows[new]["tot_ccld_qty"], rows[orig]["tot_ccld_qty"]) == ("5", "0")


def test_cancel_of_an_amended_order_chains(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    amend = accepted(kis.rvsecncl(orig, cancel=False, price=61_000))["ODNO"]
    cancel = accepted(kis.rvsecncl(amend, cancel=True))["ODNO"]
    assert kis.orders()[cancel]["orgn_odno"] == amend


def test_filled_order_cannot_be_cancelled(kis):
    filled = kis.place("005930", 2, 72_000)["ODNO"]
    response = kis.rvsecncl(filled, cancel=True)
    assert response.status_code == 200
    assert_kis_error(response)
    assert len(kis.orders()) == 1


def test_second_cancel_of_the_same_order_is_refused(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    accepted(kis.rvsecncl(orig, cancel=True))
    assert_kis_error(kis.rvsecncl(orig, cancel=True))


def test_cancel_of_an_unknown_order_is_refused(kis):
    assert_kis_error(kis.rvsecncl("0000999999", cancel=True))


def test_amend_off_tick_is_refused(kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    assert_kis_error(kis.rvsecncl(orig, cancel=False, price=61_050), "APBK0506")
    assert kis.orders()[orig]["rmn_qty"] == "5"


def test_partly_filled_order_cancels_only_the_rest(sim, kis):
    orig = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    sim.admin.fill(orig, 2)
    cancel = accepted(kis.rvsecncl(orig, cancel=True))["ODNO"]
    rows = kis.orders()
    assert (rows[orig]["tot_ccld_qty"], rows[orig]["rmn_qty"], rows[cancel]["cncl_cfrm_qty"]) == ("2", "0", "3")


def test_psbl_rvsecncl_lists_only_open_orders(kis):
    open_no = kis.place("005930", 5, OPEN_BUY)["ODNO"]
    kis.place("005930", 1, 72_000)
    response = kis.get(PSBL_RVSECNCL, "TTTC0084R", {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt,
                                                    "CTX_AREA_FK100": "", "CTX_AREA_NK100": "",
                                                    "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"})
    body = response.json()
    assert body["rt_cd"] == "0"
    assert [(r["odno"], r["psbl_qty"]) for r in body["output"]] == [(open_no, "5")]
