"""Headers are built in one place, and the tr_id table matches PROTOCOL.md for every endpoint."""

from __future__ import annotations

from datetime import date

import pytest

from kisoms.domain.codes import Side
from kisoms.errors import BrokerProtocolError
from kisoms.kis.client import PATHS
from kisoms.kis.tr_ids import NOTICE_TR_ID, TABLE, tr_ids

from kis_helpers import ACCOUNT, APP_KEY, APP_SECRET, FakeKis, body_of, kis_reply

ORDER_OK = {"output": {"ODNO": "0000012345", "KRX_FWDG_ORD_ORGNO": "91252", "ORD_TMD": "090102"}}

# PROTOCOL.md, endpoint by endpoint: (env, generation) -> field -> tr_id
EXPECTED = {
    ("real", "current"): dict(buy="TTTC0012U", sell="TTTC0011U", rvsecncl="TTTC0013U", daily_ccld="TTTC0081R",
                              daily_ccld_old="CTSC9215R", psbl_rvsecncl="TTTC0084R", balance="TTTC8434R",
                              psbl_order="TTTC8908R", price="FHKST01010100"),
    ("paper", "current"): dict(buy="VTTC0012U", sell="VTTC0011U", rvsecncl="VTTC0013U", daily_ccld="VTTC0081R",
                               daily_ccld_old="VTSC9215R", psbl_rvsecncl=None, balance="VTTC8434R",
                               psbl_order="VTTC8908R", price="FHKST01010100"),
    ("real", "old"): dict(buy="TTTC0802U", sell="TTTC0801U", rvsecncl="TTTC0803U", daily_ccld="TTTC8001R",
                          daily_ccld_old="CTSC9115R", psbl_rvsecncl="TTTC8036R", balance="TTTC8434R",
                          psbl_order="TTTC8908R", price="FHKST01010100"),
    ("paper", "old"): dict(buy="VTTC0802U", sell="VTTC0801U", rvsecncl="VTTC0803U", daily_ccld="VTTC8001R",
                           daily_ccld_old="VTSC9115R", psbl_rvsecncl=None, balance="VTTC8434R",
                           psbl_order="VTTC8908R", price="FHKST01010100"),
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_tr_id_table_matches_protocol(key):
    assert vars(TABLE[key]) == EXPECTED[key]


def test_sim_uses_real_ids_and_notice_ids_match_protocol():
    assert tr_ids("sim") == tr_ids("real") and tr_ids("sim", "old") == tr_ids("real", "old")
    assert NOTICE_TR_ID == {"real": "H0STCNI0", "sim": "H0STCNI0", "paper": "H0STCNI9"}


def test_paths_match_protocol():
    t = "/uapi/domestic-stock/v1/trading"
    assert PATHS == {"token": "/oauth2/tokenP", "revoke": "/oauth2/revokeP", "approval": "/oauth2/Approval",
                     "hashkey": "/uapi/hashkey", "order_cash": f"{t}/order-cash", "rvsecncl": f"{t}/order-rvsecncl",
                     "daily_ccld": f"{t}/inquire-daily-ccld", "psbl_rvsecncl": f"{t}/inquire-psbl-rvsecncl",
                     "balance": f"{t}/inquire-balance", "psbl_order": f"{t}/inquire-psbl-order",
                     "price": "/uapi/domestic-stock/v1/quotations/inquire-price"}


def _call_everything(client) -> None:
    client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    client.order_cash(ACCOUNT, "005930", Side.SELL, "00", 1, "71000")
    client.order_rvsecncl(ACCOUNT, "91252", "0000012345", "00", "cancel", 1, "0", True)
    client.inquire_daily_ccld(ACCOUNT, date(2026, 1, 2), date(2026, 1, 2))
    client.inquire_balance(ACCOUNT)
    client.inquire_psbl_order(ACCOUNT, "005930", "00", 71000)


@pytest.mark.parametrize("env,generation", [("real", "current"), ("paper", "current"), ("sim", "current"),
                                            ("real", "old"), ("paper", "old")])
def test_each_endpoint_sends_its_tr_id(tmp_path, env, generation):
    fake = FakeKis()
    for key in ("order_cash", "rvsecncl"):
        fake.default[PATHS[key]] = kis_reply(**ORDER_OK)
    with fake.client(tmp_path, env, tr_id_generation=generation) as client:
        _call_everything(client)
        sent = [(r.url.path, r.headers["tr_id"]) for r in fake.requests if r.url.path != PATHS["token"]]
    want = EXPECTED[("paper" if env == "paper" else "real", generation)]
    assert sent == [(PATHS["order_cash"], want["buy"]), (PATHS["order_cash"], want["sell"]),
                    (PATHS["rvsecncl"], want["rvsecncl"]), (PATHS["daily_ccld"], want["daily_ccld"]),
                    (PATHS["balance"], want["balance"]), (PATHS["psbl_order"], want["psbl_order"])]


def test_price_and_psbl_rvsecncl_tr_ids(tmp_path):
    fake = FakeKis()
    fake.script("price", kis_reply(output={"stck_prpr": "71000", "stck_sdpr": "70000", "stck_mxpr": "91000",
                                           "stck_llam": "49000", "aspr_unit": "100"}))
    with fake.client(tmp_path, "real") as client:
        quote = client.inquire_price("005930")
        client.inquire_psbl_rvsecncl(ACCOUNT)
    assert quote.current_price == 71000 and quote.tick == 100
    assert fake.calls("price")[0].headers["tr_id"] == "FHKST01010100"
    assert fake.calls("price")[0].url.params["FID_INPUT_ISCD"] == "005930"
    assert fake.calls("psbl_rvsecncl")[0].headers["tr_id"] == "TTTC0084R"


def test_paper_has_no_psbl_rvsecncl(tmp_path):
    fake = FakeKis()
    with fake.client(tmp_path, "paper") as client, pytest.raises(BrokerProtocolError, match="paper"):
        client.inquire_psbl_rvsecncl(ACCOUNT)
    assert fake.requests == []


def test_common_headers_on_an_order(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", kis_reply(**ORDER_OK))
    with fake.client(tmp_path, "real", custtype="B") as client:
        ack = client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 10, "71000")
    request = fake.calls("order_cash")[0]
    h = request.headers
    assert h["authorization"] == "Bearer tok-1"
    assert (h["appkey"], h["appsecret"]) == (APP_KEY, APP_SECRET)
    assert (h["tr_id"], h["custtype"], h["tr_cont"]) == ("TTTC0012U", "B", "")
    assert h["content-type"] == "application/json; charset=utf-8"
    assert "hashkey" not in h
    assert body_of(request) == {"CANO": "50000001", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "00",
                                "ORD_QTY": "10", "ORD_UNPR": "71000", "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "",
                                "CNDT_PRIC": ""}
    assert (ack.odno, ack.krx_fwdg_ord_orgno, ack.tr_id) == ("0000012345", "91252", "TTTC0012U")


def test_token_request_sends_credentials_in_the_body_only(tmp_path):
    fake = FakeKis()
    with fake.client(tmp_path) as client:
        assert client.token() == "tok-1"
    request = fake.calls("token")[0]
    assert request.method == "POST"
    assert body_of(request) == {"grant_type": "client_credentials", "appkey": APP_KEY, "appsecret": APP_SECRET}
    assert "authorization" not in request.headers and "appsecret" not in request.headers


def test_approval_key_uses_secretkey(tmp_path):
    fake = FakeKis()
    fake.script("approval", kis_reply(approval_key="appr-1"))
    with fake.client(tmp_path) as client:
        assert client.issue_approval_key() == "appr-1"
    assert body_of(fake.calls("approval")[0]) == {"grant_type": "client_credentials", "appkey": APP_KEY,
                                                   "secretkey": APP_SECRET}


def test_hashkey_header_when_configured(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", kis_reply(**ORDER_OK))
    fake.script("hashkey", lambda r: kis_reply(HASH="h-" + str(hash(r.content))))
    with fake.client(tmp_path, use_hashkey=True) as client:
        client.order_cash(ACCOUNT, "005930", Side.SELL, "00", 10, "71000")
    hashed, order = fake.calls("hashkey")[0], fake.calls("order_cash")[0]
    assert hashed.content == order.content  # the hash is over the exact bytes sent
    assert order.headers["hashkey"] == "h-" + str(hash(order.content))
    assert (hashed.headers["appkey"], hashed.headers["appsecret"]) == (APP_KEY, APP_SECRET)
    assert body_of(order)["SLL_TYPE"] == "01"


def test_hashkey_not_sent_on_get(tmp_path):
    fake = FakeKis()
    with fake.client(tmp_path, use_hashkey=True) as client:
        client.inquire_balance(ACCOUNT)
    assert fake.calls("hashkey") == [] and "hashkey" not in fake.calls("balance")[0].headers


def test_rvsecncl_body(tmp_path):
    fake = FakeKis()
    fake.script("rvsecncl", kis_reply(**ORDER_OK))
    with fake.client(tmp_path) as client:
        client.order_rvsecncl(ACCOUNT, "91252", "0000000777", "00", "amend", 3, "70900", False)
    assert body_of(fake.calls("rvsecncl")[0]) == {
        "CANO": "50000001", "ACNT_PRDT_CD": "01", "KRX_FWDG_ORD_ORGNO": "91252", "ORGN_ODNO": "0000000777",
        "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "01", "ORD_QTY": "3", "ORD_UNPR": "70900", "QTY_ALL_ORD_YN": "N",
        "EXCG_ID_DVSN_CD": "KRX", "CNDT_PRIC": ""}


def test_a_request_goes_out_as_httpx_client_request_would_send_it(tmp_path):
    """The client builds its requests itself (``KisClient._exchange``): on the wire the same method, URL,
    headers (the client's defaults included) and body as ``httpx.Client.request`` with the same arguments,
    for an order (POST, body) and an inquiry (GET, query), twice each (the second from the kept pieces)."""
    kis = FakeKis()
    kis.script("order_cash", kis_reply(**ORDER_OK), kis_reply(**ORDER_OK))
    client = kis.client(tmp_path)
    for _ in range(2):
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 3, "70000")
        client.inquire_balance(ACCOUNT)
    sent = [r for r in kis.requests if r.url.path in (PATHS["order_cash"], PATHS["balance"])]
    assert len(sent) == 4
    for request in sent:
        reference = client.http.build_request(request.method, request.url.path, content=request.content or None,
                                              params=dict(request.url.params),
                                              headers={k: v for k, v in request.headers.items()
                                                       if k not in ("host", "content-length")})
        assert (request.method, request.url, request.content) == (reference.method, reference.url, reference.content)
        assert sorted(request.headers.multi_items()) == sorted(reference.headers.multi_items())
        assert request.extensions["timeout"] == reference.extensions["timeout"]
