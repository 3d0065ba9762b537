"""Requests shaped as KIS's own sample functions (open-trading-api examples_llm) and KIS's Postman collection
(legacy/postman) send them, and the replies read as those samples read them.

The samples themselves are not part of this repository; these tests restate what they send and read:
- examples_llm: ``Content-Type: application/json``, ``custtype: P``, ``tr_cont`` "" then "N"; body keys upper
  case; response headers read by lower-case name (``tr_cont``, ``tr_id``, ``gt_uid``); the next page asked
  for with the ``ctx_area_fk100`` / ``ctx_area_nk100`` of the last reply, as sent; inquire-balance and
  inquire-psbl-rvsecncl read those fields unconditionally.
- Postman: no ``custtype``, a ``hashkey`` header, the older tr_ids (TTTC0802U, TTTC0803U, TTTC8001R, paper
  VTTC0802U, VTTC0803U, VTSC9115R), lower-case query names on inquire-price, order numbers unpadded.
"""

from __future__ import annotations

import httpx
import pytest

from kisoms.sim import fields
from sim_helpers import (BALANCE, DAILY_CCLD, ORDER_CASH, PRICE, PSBL_ORDER, PSBL_RVSECNCL, RVSECNCL, F,
                         NoticeSocket, client, simulator, today)

OPEN_BUY = 60_000
SEARCH_INFO = "/uapi/domestic-stock/v1/quotations/search-info"


def sample_headers(kis, tr_id: str, tr_cont: str = "") -> dict[str, str]:
    """What examples_llm's kis_auth sends."""
    return {"Content-Type": "application/json", "Accept": "text/plain", "charset": "UTF-8",
            "User-Agent": "Mozilla/5.0", "authorization": f"Bearer {kis.token}", "appkey": kis.app_key,
            "appsecret": kis.app_secret, "tr_id": tr_id, "custtype": "P", "tr_cont": tr_cont}


def postman_headers(kis, tr_id: str, **extra: str) -> dict[str, str]:
    """What the Postman collection sends: no custtype, no tr_cont."""
    return {"content-type": "application/json", "authorization": f"Bearer {kis.token}", "appkey": kis.app_key,
            "appsecret": kis.app_secret, "tr_id": tr_id, **extra}


def pages(kis, path: str, tr_id: str, params: dict) -> list[httpx.Response]:
    """Follow tr_cont as the samples do: echo the reply's cursors exactly, tr_cont N."""
    replies = [kis.http.get(path, headers=sample_headers(kis, tr_id), params=params)]
    while replies[-1].headers["tr_cont"] in ("F", "M"):
        assert len(replies) < 20
        body = replies[-1].json()
        params = {**params, "CTX_AREA_FK100": body["ctx_area_fk100"], "CTX_AREA_NK100": body["ctx_area_nk100"]}
        replies.append(kis.http.get(path, headers=sample_headers(kis, tr_id, "N"), params=params))
    return replies


def account(kis) -> dict[str, str]:
    return {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt}


def balance_params(kis) -> dict[str, str]:
    return {**account(kis), "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "01", "UNPR_DVSN": "01",
            "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00", "CTX_AREA_FK100": "",
            "CTX_AREA_NK100": ""}


@pytest.fixture
def small_pages(sim):
    sim.admin.configure(page_sizes={"daily_ccld_real": 2, "balance_real": 2, "psbl_rvsecncl_real": 2})


# ------------------------------------------------------------------------------------- KIS's sample functions


def test_every_reply_carries_lower_case_tr_cont_tr_id_gt_uid(kis):
    """The samples turn the lower-case response headers into attributes and read tr_cont on every reply."""
    replies = [kis.http.get(PSBL_ORDER, headers=sample_headers(kis, "TTTC8908R"),
                            params={**account(kis), "PDNO": "005930", "ORD_UNPR": "71000", "ORD_DVSN": "00",
                                    "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}),
               kis.http.get(PRICE, headers=sample_headers(kis, "FHKST01010100"),
                            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}),
               kis.http.post(ORDER_CASH, headers=sample_headers(kis, "TTTC0012U"), json=kis.order_body("005930", 1,
                                                                                                      OPEN_BUY))]
    for reply in replies:
        assert reply.json()["rt_cd"] == "0", reply.text
        names = set(reply.headers.raw and [k.decode() for k, _ in reply.headers.raw])
        assert {"tr_cont", "tr_id", "gt_uid"} <= names, names


def test_order_cash_and_rvsecncl_as_the_samples_send_them(kis):
    order = kis.http.post(ORDER_CASH, headers=sample_headers(kis, "TTTC0012U"),
                          json=kis.order_body("005930", 1, OPEN_BUY)).json()
    assert list(order["output"]) == list(fields.ORDER_ACK)
    body = {**account(kis), "KRX_FWDG_ORD_ORGNO": order["output"]["KRX_FWDG_ORD_ORGNO"],
            "ORGN_ODNO": order["output"]["ODNO"], "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "01", "ORD_QTY": "1",
            "ORD_UNPR": "61000", "QTY_ALL_ORD_YN": "Y", "EXCG_ID_DVSN_CD": "KRX"}
    amend = kis.http.post(RVSECNCL, headers=sample_headers(kis, "TTTC0013U"), json=body).json()
    assert amend["rt_cd"] == "0" and amend["output"]["ODNO"] != order["output"]["ODNO"]


def test_daily_ccld_two_pages_with_kis_documented_rows(kis, small_pages):
    placed = [kis.place("005930", 1, OPEN_BUY)["ODNO"] for _ in range(3)]
    params = kis.ccld_params()
    replies = pages(kis, DAILY_CCLD, "TTTC0081R", params)
    assert len(replies) == 2
    rows = [r for reply in replies for r in reply.json()["output1"]]
    assert sorted(r["odno"] for r in rows) == placed
    assert set(fields.DAILY_CCLD_ROW) <= set(rows[0]) and rows[0]["excg_id_dvsn_cd"] == "KRX"
    assert list(replies[0].json()["output2"]) == list(fields.DAILY_CCLD_SUMMARY)
    assert replies[0].json()["output2"]["tot_ord_qty"] == "3"


def test_balance_pages_like_kis(kis, small_pages):
    """Three holdings at two a page: two pages, each with its output2 summary list and the cursors."""
    replies = pages(kis, BALANCE, "TTTC8434R", balance_params(kis))
    assert [len(r.json()["output1"]) for r in replies] == [2, 1]
    first = replies[0].json()
    assert len(first["ctx_area_fk100"]) == len(first["ctx_area_nk100"]) == 100
    assert list(first["output1"][0]) == list(fields.BALANCE_ROW)
    assert list(first["output2"][0]) == list(fields.BALANCE_SUMMARY)
    assert sorted(r["pdno"] for reply in replies for r in reply.json()["output1"]) == ["000660", "005930", "069500"]


def test_psbl_rvsecncl_pages_and_has_psbl_qty(kis, small_pages):
    placed = [kis.place("005930", 2, OPEN_BUY)["ODNO"] for _ in range(3)]
    params = {**account(kis), "CTX_AREA_FK100": "", "CTX_AREA_NK100": "", "INQR_DVSN_1": "1", "INQR_DVSN_2": "0"}
    replies = pages(kis, PSBL_RVSECNCL, "TTTC0084R", params)
    rows = [r for reply in replies for r in reply.json()["output"]]
    assert len(replies) == 2 and [(r["odno"], r["psbl_qty"]) for r in rows] == [(n, "2") for n in placed]
    assert list(rows[0]) == list(fields.PSBL_RVSECNCL_ROW)


def test_psbl_order_has_the_12_documented_fields(kis):
    reply = kis.http.get(PSBL_ORDER, headers=sample_headers(kis, "TTTC8908R"),
                         params={**account(kis), "PDNO": "005930", "ORD_UNPR": "71000", "ORD_DVSN": "00",
                                 "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}).json()["output"]
    assert list(reply) == list(fields.PSBL_ORDER) and len(reply) == 12
    assert (reply["psbl_qty_calc_unpr"], reply["max_buy_qty"]) == ("71000", str(100_000_000 // 71_000))


def test_inquire_price_has_the_82_documented_fields(kis):
    out = kis.price("005930")
    assert list(out) == list(fields.PRICE) and len(out) == 82
    assert (out["stck_prpr"], out["stck_shrn_iscd"], out["acml_tr_pbmn"], out["w52_hgpr_date"]) == (
        "71000", "005930", "0", today())


def test_search_info(kis):
    reply = kis.get(SEARCH_INFO, "CTPF1604R", {"PDNO": "005930", "PRDT_TYPE_CD": "300"}).json()
    assert reply["rt_cd"] == "0" and list(reply["output"]) == list(fields.SEARCH_INFO)
    assert (reply["output"]["shtn_pdno"], reply["output"]["prdt_abrv_name"]) == ("005930", "삼성전자")
    assert kis.get(SEARCH_INFO, "CTPF1604R", {"PDNO": "999999", "PRDT_TYPE_CD": "300"}).json()["rt_cd"] != "0"


def test_notice_subscription_as_the_sample_reads_it(sim, kis, hts_id):
    """The sample decrypts when the subscribe reply's header says encrypt Y, and names 26 columns."""
    sock = NoticeSocket(sim.ws_url, kis.approval_key())
    reply = sock.subscribe("H0STCNI0", hts_id)
    assert (reply["header"]["encrypt"], reply["header"]["tr_key"], reply["body"]["msg1"]) == (
        "Y", hts_id, "SUBSCRIBE SUCCESS")
    odno = kis.place("005930", 1, OPEN_BUY)["ODNO"]
    record = sock.next_notice()
    assert len(record) == 26 and record[F["ODER_NO"]] == odno and record[F["ODER_PRC"]] == str(OPEN_BUY)
    sock.close()


def test_a_stripped_cursor_starts_over(kis, small_pages):
    """The cursors are 100 characters, padded; one sent back stripped is not this inquiry's: page one again."""
    for _ in range(3):
        kis.place("005930", 1, OPEN_BUY)
    first = kis.get(DAILY_CCLD, "TTTC0081R", kis.ccld_params()).json()
    stripped = kis.ccld_params(first["ctx_area_fk100"].strip(), first["ctx_area_nk100"].strip())
    again = kis.get(DAILY_CCLD, "TTTC0081R", stripped, tr_cont="N").json()
    assert [r["odno"] for r in again["output1"]] == [r["odno"] for r in first["output1"]]


# ---------------------------------------------------------------------------------- KIS's Postman collection


def hashkey(kis, body: dict) -> str:
    reply = kis.http.post("/uapi/hashkey", headers={"content-type": "application/json", "appkey": kis.app_key,
                                                    "appsecret": kis.app_secret}, json=body)
    return reply.json()["HASH"]


@pytest.mark.parametrize("env,tr", [
    ("real", dict(buy="TTTC0802U", rvsecncl="TTTC0803U", ccld="TTTC8001R", balance="TTTC8434R", psbl="TTTC8908R")),
    ("paper", dict(buy="VTTC0802U", rvsecncl="VTTC0803U", ccld="VTSC9115R", balance="VTTC8434R", psbl="VTTC8908R")),
])
def test_postman_requests(env, tr):
    with simulator() as sim:
        kis = client(sim, env).login()
        price = kis.http.get(PRICE, headers=postman_headers(kis, "FHKST01010100"),
                             params={"fid_cond_mrkt_div_code": "J", "fid_input_iscd": "005930"}).json()
        assert price["output"]["stck_prpr"] == "71000", price
        body = {**account(kis), "PDNO": "005930", "ORD_DVSN": "00", "ORD_QTY": "1", "ORD_UNPR": "55000"}
        order = kis.http.post(ORDER_CASH, headers=postman_headers(kis, tr["buy"], hashkey=hashkey(kis, body)),
                              json=body).json()
        assert order["rt_cd"] == "0", order
        cancel = {**account(kis), "KRX_FWDG_ORD_ORGNO": "00950", "ORGN_ODNO": order["output"]["ODNO"].lstrip("0"),
                  "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "1", "ORD_UNPR": "55000",
                  "QTY_ALL_ORD_YN": "Y"}
        reply = kis.http.post(RVSECNCL, headers=postman_headers(kis, tr["rvsecncl"], hashkey=hashkey(kis, cancel)),
                              json=cancel).json()
        assert reply["rt_cd"] == "0", reply
        for path, tr_id, params in ((DAILY_CCLD, tr["ccld"], kis.ccld_params(PDNO="005930")),
                                    (BALANCE, tr["balance"], balance_params(kis)),
                                    (PSBL_ORDER, tr["psbl"], {**account(kis), "PDNO": "005930", "ORD_UNPR": "55000",
                                                              "ORD_DVSN": "01", "OVRS_ICLD_YN": "N",
                                                              "CMA_EVLU_AMT_ICLD_YN": "N"})):
            got = kis.http.get(path, headers=postman_headers(kis, tr_id), params=params)
            assert got.json()["rt_cd"] == "0" and "tr_cont" in got.headers, got.text
        kis.close()


# ------------------------------------------------------------------------------------- run-time configuration


def test_paper_daily_ccld_pages_at_kis_paper_size(sim):
    paper = client(sim, "paper").login()
    for _ in range(16):
        paper.place("005930", 1, OPEN_BUY, tr_id="VTTC0012U")
    replies = paper.ccld_pages("VTTC0081R")
    assert [len(r.json()["output1"]) for r in replies] == [15, 1]
    paper.close()


def test_sim_config_changes_rate_limit_and_page_sizes_at_run_time(sim, kis):
    for _ in range(3):
        kis.place("005930", 1, OPEN_BUY)
    assert sim.admin.configure(page_size=1)["page_size"] == 1
    assert len(kis.ccld_pages()) == 3
    sim.admin.configure(page_size=None, page_sizes={"daily_ccld_real": 2})
    assert len(kis.ccld_pages()) == 2
    sim.admin.configure(rate_limit_per_sec=1)
    replies = [kis.get(BALANCE, "TTTC8434R", account(kis)) for _ in range(2)]
    assert replies[-1].json()["msg_cd"] == "EGW00201"
    with pytest.raises(httpx.HTTPStatusError):
        sim.admin.configure(page_size="many")
