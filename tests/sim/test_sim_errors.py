"""Errors always come in KIS's JSON shape (HTTP status + rt_cd/msg_cd/msg1), never a framework page."""

from __future__ import annotations

import pytest

from sim_helpers import BALANCE, BUY, ORDER_CASH, SELL, TRADING, assert_kis_error

BAL = {"CANO": "50000001", "ACNT_PRDT_CD": "01"}


@pytest.mark.parametrize("header", ["authorization", "appkey", "appsecret", "tr_id"])
def test_missing_header(kis, header):
    headers = {k: v for k, v in kis.headers("TTTC8434R").items() if k != header}
    body = assert_kis_error(kis.http.get(BALANCE, headers=headers, params=BAL), status=500)
    assert header in body["msg1"]


def test_missing_custtype_is_taken_as_an_individual(kis):
    """python-kis and KIS's Postman samples send no custtype; KIS takes them as "P"."""
    headers = {k: v for k, v in kis.headers("TTTC8434R").items() if k != "custtype"}
    assert kis.http.get(BALANCE, headers=headers, params=BAL).json()["rt_cd"] == "0"
    order = kis.order_body("005930", 1, 60_000)
    headers = {k: v for k, v in kis.headers(BUY).items() if k != "custtype"}
    assert kis.http.post(ORDER_CASH, headers=headers, json=order).json()["rt_cd"] == "0"


def test_error_replies_carry_tr_cont_tr_id_and_gt_uid(kis):
    for response in (kis.get(BALANCE, "TTTC9999R", BAL), kis.http.get(f"{TRADING}/nowhere"),
                     kis.http.get(BALANCE, params=BAL)):
        assert response.json()["rt_cd"] != "0"
        assert {"tr_cont", "tr_id", "gt_uid"} <= set(response.headers), response.headers


def test_wrong_appsecret_header(kis):
    headers = {**kis.headers("TTTC8434R"), "appsecret": "nope"}
    assert_kis_error(kis.http.get(BALANCE, headers=headers, params=BAL), "EGW00103", 500)


def test_unknown_tr_id(kis):
    assert_kis_error(kis.get(BALANCE, "TTTC9999R", BAL), status=500)


def test_tr_id_of_another_endpoint(kis):
    assert_kis_error(kis.post(ORDER_CASH, "TTTC8434R", kis.order_body("005930", 1, 60_000)), status=500)


def test_bad_token(kis):
    kis.token = "not-a-token"
    assert_kis_error(kis.get(BALANCE, "TTTC8434R", BAL), "EGW00121", 500)


def test_token_without_bearer_prefix(kis):
    headers = {**kis.headers("TTTC8434R"), "authorization": kis.token}
    assert_kis_error(kis.http.get(BALANCE, headers=headers, params=BAL), "EGW00121", 500)


def test_malformed_json_body(kis):
    response = kis.http.post(ORDER_CASH, headers=kis.headers(BUY), content=b'{"CANO": ')
    assert_kis_error(response, status=400)
    assert kis.orders() == {}


def test_json_body_that_is_not_an_object(kis):
    assert_kis_error(kis.http.post(ORDER_CASH, headers=kis.headers(BUY), json=[1, 2]), status=400)


def test_number_sent_as_a_json_number_is_refused(kis):
    body = {**kis.order_body("005930", 1, 60_000), "ORD_QTY": 1}
    assert_kis_error(kis.post(ORDER_CASH, BUY, body))


def test_missing_body_field(kis):
    body = {k: v for k, v in kis.order_body("005930", 1, 60_000).items() if k != "PDNO"}
    assert_kis_error(kis.post(ORDER_CASH, BUY, body))


def test_unknown_ord_dvsn(kis):
    assert_kis_error(kis.order("005930", 1, 60_000, ord_dvsn="99"))
    assert kis.orders() == {}


def test_unknown_url(kis):
    assert_kis_error(kis.get(f"{TRADING}/no-such-thing", "TTTC8434R", BAL), status=404)


def test_wrong_method(kis):
    assert_kis_error(kis.http.get(ORDER_CASH, headers=kis.headers(BUY)), status=405)


def test_account_not_known(kis):
    kis.cano = "99999999"
    assert_kis_error(kis.order("005930", 1, 60_000))


def test_unknown_symbol(kis):
    assert_kis_error(kis.order("999999", 1, 60_000))


def test_off_tick_price(kis):
    assert_kis_error(kis.order("005930", 1, 70_050), "APBK0506")


def test_etf_tick_is_5(kis):
    assert kis.order("069500", 1, 35_005).json()["rt_cd"] == "0"
    assert_kis_error(kis.order("069500", 1, 35_003), "APBK0506")


def test_price_above_upper_limit(kis):
    assert kis.order("005930", 1, 92_300, tr_id=SELL).json()["rt_cd"] == "0"
    assert_kis_error(kis.order("005930", 1, 92_400, tr_id=SELL), "APBK0507")


def test_price_below_lower_limit(kis):
    assert kis.order("005930", 1, 49_700).json()["rt_cd"] == "0"
    assert_kis_error(kis.order("005930", 1, 49_650), "APBK0507")


def test_insufficient_cash(kis):
    assert_kis_error(kis.order("000660", 1_000, 180_000))


def test_cash_reserved_by_resting_buys_counts(kis):
    kis.place("000660", 500, 170_000)  # 85,000,000 of 100,000,000
    assert_kis_error(kis.order("000660", 100, 170_000))


def test_insufficient_holdings(kis):
    assert_kis_error(kis.order("035720", 1, 45_000, tr_id=SELL))


def test_rejection_is_http_200_with_rt_cd_not_zero(kis):
    response = kis.order("005930", 1, 70_050)
    assert response.status_code == 200 and response.json()["rt_cd"] != "0"
