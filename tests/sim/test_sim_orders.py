"""order-cash round trips, tr_id variants, and the order's row in inquire-daily-ccld."""

from __future__ import annotations

import pytest

from sim_helpers import BUY, ORDER_CASH, SELL, client, simulator, today

OPEN_BUY = 60_000  # below 005930's price (71,000): rests on the book
ALL_ORDER_TR_IDS = ["TTTC0012U", "TTTC0011U", "TTTC0802U", "TTTC0801U",
                    "VTTC0012U", "VTTC0011U", "VTTC0802U", "VTTC0801U"]


def test_order_reply_envelope(kis):
    response = kis.order("005930", 1, OPEN_BUY)
    assert response.status_code == 200
    body = response.json()
    assert body["rt_cd"] == "0" and body["msg_cd"] and isinstance(body["msg1"], str)
    out = body["output"]
    assert all(isinstance(out[k], str) and out[k] for k in ("KRX_FWDG_ORD_ORGNO", "ODNO", "ORD_TMD"))
    assert len(out["ORD_TMD"]) == 6 and out["ORD_TMD"].isdigit()


def test_order_reply_headers_echo_tr_id_and_carry_gt_uid(kis):
    response = kis.order("005930", 1, OPEN_BUY)
    assert response.headers["tr_id"] == BUY
    assert response.headers["gt_uid"]


@pytest.mark.parametrize("tr_id", ALL_ORDER_TR_IDS)
def test_every_documented_order_tr_id_is_accepted_in_env_any(tr_id):
    with simulator(env="any") as permissive:
        kis = client(permissive).login()
        is_sell = tr_id[-3:] in ("11U", "01U")
        kis.place("005930", 1, 80_000 if is_sell else OPEN_BUY, tr_id=tr_id)
        row = next(iter(kis.orders().values()))
        assert row["sll_buy_dvsn_cd"] == ("01" if is_sell else "02")
        kis.close()


def test_default_scenario_has_separate_real_and_paper_hosts_and_keys(sim):
    """As at KIS: each host takes only its own app key, and only its own env's tr_ids."""
    assert sim.scenario.env == "split" and sim.paper_rest_url != sim.rest_url
    assert [(len(k.app_key), len(k.app_secret)) for k in sim.scenario.app_keys] == [(36, 180), (36, 180)]
    real, paper = client(sim).login(), client(sim, "paper").login()
    assert paper.order("005930", 1, OPEN_BUY, tr_id="VTTC0012U").json()["rt_cd"] == "0"
    assert real.order("005930", 1, OPEN_BUY, tr_id=BUY).json()["rt_cd"] == "0"
    assert real.order("005930", 1, OPEN_BUY, tr_id="VTTC0012U").json()["msg_cd"] == "EGW00002"
    assert paper.order("005930", 1, OPEN_BUY, tr_id=BUY).json()["msg_cd"] == "EGW00002"
    key = sim.app_key("paper")
    misplaced = client(sim, "paper")
    misplaced.http.base_url = sim.rest_url  # the paper key sent to the real host
    assert misplaced.issue_token().json()["error_code"] == "EGW00103"
    # WebSocket approval keys are not host-bound (python-kis in virtual mode relies on that against KIS)
    assert misplaced.http.post("/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": key.app_key,
                                                         "secretkey": key.app_secret}).status_code == 200
    for kis in (real, paper, misplaced):
        kis.close()


def test_order_numbers_are_distinct_and_increasing(kis):
    numbers = [kis.place("005930", 1, OPEN_BUY)["ODNO"] for _ in range(3)]
    assert numbers == sorted(set(numbers), key=int)


def test_order_appears_in_daily_ccld_with_its_fields(kis):
    out = kis.place("005930", 3, OPEN_BUY)
    row = kis.orders()[out["ODNO"]]
    assert row["ord_dt"] == today() and row["ord_tmd"] == out["ORD_TMD"]
    assert row["ord_gno_brno"] == out["KRX_FWDG_ORD_ORGNO"]
    assert (row["pdno"], row["ord_qty"], row["ord_unpr"], row["sll_buy_dvsn_cd"]) == ("005930", "3", "60000", "02")
    assert (row["tot_ccld_qty"], row["rmn_qty"], row["cncl_yn"], row["orgn_odno"]) == ("0", "3", "N", "")


def test_daily_ccld_reply_shape(kis):
    kis.place("005930", 1, OPEN_BUY)
    page = kis.ccld_pages()[0]
    body = page.json()
    assert page.headers["tr_cont"] in ("D", "E") and page.headers["tr_id"] == "TTTC0081R"
    assert body["rt_cd"] == "0" and isinstance(body["output1"], list) and "output2" in body
    assert "ctx_area_fk100" in body and "ctx_area_nk100" in body
    assert all(isinstance(v, str) for v in body["output1"][0].values())


def test_marketable_buy_fills_and_shows_filled(kis):
    out = kis.place("005930", 2, 72_000)
    row = kis.orders()[out["ODNO"]]
    assert (row["tot_ccld_qty"], row["rmn_qty"], row["avg_prvs"]) == ("2", "0", "71000")
    assert row["tot_ccld_amt"] == "142000"


def test_market_sell_fills_at_the_current_price(kis):
    out = kis.place("005930", 5, 0, ord_dvsn="01", tr_id=SELL)
    row = kis.orders()[out["ODNO"]]
    assert (row["sll_buy_dvsn_cd"], row["tot_ccld_qty"], row["avg_prvs"]) == ("01", "5", "71000")


def test_daily_ccld_filters_by_side_and_fill_state(kis):
    resting = kis.place("005930", 1, OPEN_BUY)["ODNO"]
    filled = kis.place("005930", 1, 0, ord_dvsn="01", tr_id=SELL)["ODNO"]
    assert set(kis.orders(SLL_BUY_DVSN_CD="02")) == {resting}
    assert set(kis.orders(CCLD_DVSN="01")) == {filled}
    assert set(kis.orders(CCLD_DVSN="02")) == {resting}


def test_daily_ccld_older_tr_ids_answer_too(kis):
    odno = kis.place("005930", 1, OPEN_BUY)["ODNO"]
    for tr_id in ("CTSC9215R", "TTTC8001R"):
        assert odno in kis.orders(tr_id)


def test_ioc_remainder_is_cancelled(kis):
    out = kis.place("005930", 4, OPEN_BUY, ord_dvsn="11")
    row = kis.orders()[out["ODNO"]]
    assert (row["tot_ccld_qty"], row["rmn_qty"], row["cncl_cfrm_qty"]) == ("0", "0", "4")


def test_unfillable_fok_is_rejected(kis):
    body = kis.order("005930", 4, OPEN_BUY, ord_dvsn="12").json()
    assert body["rt_cd"] != "0" and kis.orders() == {}


def test_paper_scenario_refuses_real_tr_ids():
    with simulator(env="paper") as paper:
        kis = client(paper).login()
        assert kis.order("005930", 1, OPEN_BUY, tr_id="VTTC0012U").json()["rt_cd"] == "0"
        assert kis.post(ORDER_CASH, BUY, kis.order_body("005930", 1, OPEN_BUY)).json()["rt_cd"] != "0"
        kis.close()


def test_top_priority_rests_at_its_own_best_while_best_limit_takes_the_other_side(sim, kis):
    sim.admin.set_price("005930", 70_000)
    resting = kis.place("005930", 2, 0, ord_dvsn="04")  # 최우선지정가: the best bid, a tick below
    taking = kis.place("005930", 3, 0, ord_dvsn="03")  # 최유리지정가: the best offer, filled at once
    rows = kis.orders()
    assert (rows[resting["ODNO"]]["ord_unpr"], rows[resting["ODNO"]]["tot_ccld_qty"]) == ("69900", "0")
    assert rows[taking["ODNO"]]["tot_ccld_qty"] == "3"
    sim.admin.set_price("005930", 69_900)  # the market comes down to the resting bid
    assert kis.orders()[resting["ODNO"]]["tot_ccld_qty"] == "2"


@pytest.mark.parametrize("hhmm,enforce,accepted", [
    ((8, 30), True, False), ((9, 0), True, True), ((15, 29), True, True), ((15, 30), True, False),
    ((8, 30), False, True),
])
def test_session_hours_are_enforced_only_when_enabled(hhmm, enforce, accepted):
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 11, 25, *hhmm, tzinfo=timezone(timedelta(hours=9)))
    with simulator(enforce_hours=enforce, clock=lambda: at) as handle:
        kis = client(handle).login()
        body = kis.order("005930", 1, OPEN_BUY).json()
        kis.close()
    assert (body["rt_cd"] == "0") is accepted
    if not accepted:
        assert body["msg_cd"] == "APBK0918"
