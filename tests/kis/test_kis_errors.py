"""Every failure becomes the right kisoms error: KIS codes, HTTP statuses, transport faults, malformed replies."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from kisoms.domain.codes import Side
from kisoms.errors import (AuthError, BrokerApiError, BrokerError, BrokerProtocolError, BrokerTimeout,
                           BrokerTransportError, RateLimited, TokenExpired)
from kisoms.kis.errors_map import api_error, check_response, transport_error
from kisoms.kis.models import DailyOrderRow, OrderAck, Quote, num

from kis_helpers import ACCOUNT, FakeKis, kis_error, kis_reply

REQUEST = httpx.Request("POST", "http://kis.test/uapi/x")
HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.mark.parametrize("msg_cd,cls", [
    ("EGW00201", RateLimited), ("EGW00133", RateLimited), ("EGW00123", TokenExpired), ("EGW00121", TokenExpired),
    ("EGW00102", AuthError), ("EGW00103", AuthError), ("EGW00105", AuthError), ("IGW00002", AuthError),
    ("APBK0918", BrokerApiError), ("APBK0506", BrokerApiError), ("OPSQ0001", BrokerApiError),
])
def test_msg_cd_classes(msg_cd, cls):
    err = api_error(msg_cd, "메시지", 500)
    assert type(err) is cls
    assert (err.msg_cd, err.message, err.http_status) == (msg_cd, "메시지", 500)
    assert str(err) == f"[{msg_cd}] 메시지"


def test_token_expired_is_an_auth_error_and_all_are_broker_errors():
    assert issubclass(TokenExpired, AuthError) and issubclass(RateLimited, BrokerApiError)
    assert issubclass(BrokerTimeout, BrokerTransportError) and issubclass(BrokerApiError, BrokerError)


@pytest.mark.parametrize("status", [200, 400])  # with 5xx a body is not proof of a clean refusal (below)
def test_rt_cd_failure_in_an_envelope(status):
    response = httpx.Response(status, json={"rt_cd": "1", "msg_cd": "APBK0918", "msg1": " 장운영시간이 아닙니다. "})
    with pytest.raises(BrokerApiError) as info:
        check_response(response, "order-cash", envelope=True)
    assert type(info.value) is BrokerApiError
    assert (info.value.msg_cd, info.value.message, info.value.http_status) == ("APBK0918", "장운영시간이 아닙니다.",
                                                                             status)


def test_gateway_rate_limit_with_http_500_is_rate_limited():
    with pytest.raises(RateLimited) as info:
        check_response(httpx.Response(500, json={"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수"}), "x")
    assert info.value.msg_cd == "EGW00201"


def test_token_endpoint_error_shape():
    response = httpx.Response(403, json={"error_code": "EGW00133", "error_description": "1분당 1회"})
    with pytest.raises(RateLimited) as info:
        check_response(response, "token")
    assert (info.value.msg_cd, info.value.message, info.value.http_status) == ("EGW00133", "1분당 1회", 403)


def test_failure_without_msg_cd_is_still_a_failure():
    with pytest.raises(BrokerApiError, match="rt_cd"):
        check_response(httpx.Response(200, json={"rt_cd": "7", "output": {"ODNO": "1"}}), "order-cash", envelope=True)


def test_success_passes_the_body_through():
    body = {"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "ok", "output": {}}
    assert check_response(httpx.Response(200, json=body), "x", envelope=True) == body


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 499])  # 408/499: a proxy gave up waiting
def test_http_5xx_without_a_kis_body_may_have_been_sent(status):
    with pytest.raises(BrokerTransportError) as info:
        check_response(httpx.Response(status, html=HTML_502), "order-cash")
    assert info.value.maybe_sent is True and str(status) in str(info.value)
    assert not isinstance(info.value, BrokerTimeout)


def test_http_4xx_without_a_kis_body():
    with pytest.raises(BrokerApiError) as info:
        check_response(httpx.Response(404, text="nope"), "inquire-price")
    assert (info.value.msg_cd, info.value.http_status) == ("HTTP404", 404)


@pytest.mark.parametrize("exc,cls,maybe_sent", [
    (httpx.ConnectError("refused"), BrokerTransportError, False),
    (httpx.ConnectTimeout("slow"), BrokerTransportError, False),
    (httpx.PoolTimeout("pool"), BrokerTransportError, False),
    (httpx.ReadTimeout("slow"), BrokerTimeout, True),
    (httpx.WriteTimeout("slow"), BrokerTimeout, True),
    (httpx.ReadError("reset"), BrokerTransportError, True),
    (httpx.RemoteProtocolError("closed"), BrokerTransportError, True),
])
def test_transport_errors_say_whether_the_request_may_have_left(exc, cls, maybe_sent):
    err = transport_error(exc, "order-cash")
    assert type(err) is cls and err.maybe_sent is maybe_sent
    assert "order-cash" in str(err) and type(exc).__name__ in str(err)


def test_order_is_sent_once_on_a_read_timeout(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", httpx.ReadTimeout("no answer"))
    with fake.client(tmp_path) as client, pytest.raises(BrokerTimeout) as info:
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert info.value.maybe_sent is True and info.value.__cause__ is None
    assert len(fake.calls("order_cash")) == 1


@pytest.mark.parametrize("fault", [kis_error("EGW00201"), httpx.ConnectError("refused"),
                                   httpx.Response(502, html=HTML_502)])
def test_order_is_never_resent_on_rate_limit_or_transport_faults(tmp_path, fault):
    fake = FakeKis()
    fake.script("order_cash", fault)
    with fake.client(tmp_path) as client, pytest.raises(BrokerError):
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert len(fake.calls("order_cash")) == 1


def test_inquiry_gives_up_after_bounded_retries(tmp_path):
    fake = FakeKis()
    fake.default["/uapi/domestic-stock/v1/trading/inquire-balance"] = httpx.Response(502, html=HTML_502)
    with fake.client(tmp_path) as client, pytest.raises(BrokerTransportError):
        client.inquire_balance(ACCOUNT)
    assert 2 <= len(fake.calls("balance")) <= 5


# ------------------------------------------------------------------ malformed replies


@pytest.mark.parametrize("response,named", [
    (httpx.Response(200, text="Service Unavailable"), "not JSON"),
    (httpx.Response(200, html=HTML_502), "text/html"),
    (httpx.Response(200, json=[1, 2]), "list"),
    (httpx.Response(200, json={"output": {"ODNO": "1", "KRX_FWDG_ORD_ORGNO": "2"}}), "rt_cd"),
    (httpx.Response(200, json={"rt_cd": "0", "msg_cd": "APBK0013"}), "output is missing"),
    (httpx.Response(200, json={"rt_cd": "0", "output": ["ODNO"]}), "output is a list"),
    (httpx.Response(200, json={"rt_cd": "0", "output": {"KRX_FWDG_ORD_ORGNO": "2"}}), "ODNO"),
    (httpx.Response(200, json={"rt_cd": "0", "output": {"ODNO": "", "KRX_FWDG_ORD_ORGNO": "2"}}), "ODNO"),
    (httpx.Response(200, json={"rt_cd": "0", "output": {"ODNO": {"x": 1}, "KRX_FWDG_ORD_ORGNO": "2"}}), "ODNO"),
    (httpx.Response(200, json={"rt_cd": "0", "output": {"ODNO": "1"}}), "KRX_FWDG_ORD_ORGNO"),
])
def test_malformed_order_replies_name_the_problem(tmp_path, response, named):
    fake = FakeKis()
    fake.script("order_cash", response)
    with fake.client(tmp_path) as client, pytest.raises(BrokerProtocolError) as info:
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert named in str(info.value) and "order" in str(info.value)


PRICE = {"stck_prpr": "71000", "stck_sdpr": "70000", "stck_mxpr": "91000", "stck_llam": "49000", "aspr_unit": "100"}


@pytest.mark.parametrize("change,named", [
    ({"stck_prpr": None}, "stck_prpr is missing"), ({"stck_sdpr": "abc"}, "stck_sdpr is not a number"),
    ({"stck_mxpr": "91000.5"}, "stck_mxpr is not a whole number"), ({"stck_llam": "NaN"}, "stck_llam"),
    ({"stck_prpr": "inf"}, "stck_prpr"), ({"stck_prpr": ["1"]}, "stck_prpr"), ({"aspr_unit": "x"}, "aspr_unit"),
])
def test_malformed_quote_fields_are_named(change, named):
    out = {**PRICE, **change}
    out = {k: v for k, v in out.items() if v is not None}
    with pytest.raises(BrokerProtocolError, match=named):
        Quote.parse("005930", {"rt_cd": "0", "output": out})


def test_quote_numbers_sent_as_strings():
    quote = Quote.parse("005930", {"output": {**PRICE, "stck_prpr": "71,000", "aspr_unit": "0"}})
    assert quote.current_price == 71000 and quote.tick is None
    assert num({"a": "00123"}, "a", "w") == 123 and num({"a": 5}, "a", "w") == 5


ROW = {"ord_dt": "20260102", "odno": "0000000001", "sll_buy_dvsn_cd": "02", "pdno": "005930", "ord_qty": "10"}


@pytest.mark.parametrize("change,named", [
    ({"sll_buy_dvsn_cd": "03"}, "sll_buy_dvsn_cd"), ({"sll_buy_dvsn_cd": None}, "sll_buy_dvsn_cd"),
    ({"ord_qty": "ten"}, "ord_qty"), ({"ord_qty": None}, "ord_qty"), ({"pdno": None}, "pdno"),
    ({"tot_ccld_qty": "1.5"}, "tot_ccld_qty"), ({"rmn_qty": {"v": 1}}, "rmn_qty"),
])
def test_malformed_daily_rows_are_named(change, named):
    row = {k: v for k, v in {**ROW, **change}.items() if v is not None}
    with pytest.raises(BrokerProtocolError, match=named):
        DailyOrderRow.parse(row)


def test_daily_row_defaults():
    parsed = DailyOrderRow.parse(ROW)
    assert (parsed.side, parsed.ord_qty, parsed.tot_ccld_qty, parsed.is_cancel) == (Side.BUY, 10, 0, False)


@pytest.mark.parametrize("output1,named", [({"odno": "1"}, "output1"), (["1", "2"], "output1"),
                                           ([{**ROW, "ord_qty": "x"}], "ord_qty")])
def test_malformed_daily_pages_are_named(tmp_path, output1, named):
    fake = FakeKis()
    fake.script("daily_ccld", kis_reply(output1=output1, headers={"tr_cont": "D"}))
    with fake.client(tmp_path) as client, pytest.raises(BrokerProtocolError, match=named):
        client.inquire_daily_ccld(ACCOUNT, date(2026, 1, 2), date(2026, 1, 2))


@pytest.mark.parametrize("reply,named", [
    ({"token_type": "Bearer"}, "access_token"), ({"access_token": 12345}, "access_token"),
    ({"access_token": "t", "expires_in": "soon"}, "expires_in"), ({"access_token": "t", "expires_in": -5}, "expires_in"),
])
def test_malformed_token_replies_are_named(tmp_path, reply, named):
    fake = FakeKis()
    fake.script("token", httpx.Response(200, json=reply))
    with fake.client(tmp_path) as client, pytest.raises(BrokerProtocolError, match=named):
        client.token()


def test_malformed_approval_reply_is_named(tmp_path):
    fake = FakeKis()
    fake.script("approval", httpx.Response(200, json={"approval": "x"}))
    with fake.client(tmp_path) as client, pytest.raises(BrokerProtocolError, match="approval_key"):
        client.issue_approval_key()


def test_order_ack_keeps_the_reply_out_of_repr():
    ack = OrderAck.parse({"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "ok ",
                          "output": {"ODNO": "1", "KRX_FWDG_ORD_ORGNO": "2"}}, "TTTC0012U")
    assert ack.msg1 == "ok" and "raw" not in repr(ack)


# ------------------------------------------------------- the real HTTP transport, mocked by pytest-httpx


def test_timeouts_from_the_connection_and_a_read_timeout_through_httpx(tmp_path, httpx_mock):
    from kis_helpers import BASE, make_conn
    from kisoms.kis.client import KisClient

    httpx_mock.add_response(url=f"{BASE}/oauth2/tokenP", method="POST", json={"access_token": "t", "expires_in": 86400})
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=f"{BASE}/uapi/domestic-stock/v1/trading/order-cash")
    with KisClient(make_conn(tmp_path, connect_timeout=1.5, read_timeout=4.0)) as client:
        with pytest.raises(BrokerTimeout) as info:
            client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert info.value.maybe_sent is True
    order = httpx_mock.get_request(url=f"{BASE}/uapi/domestic-stock/v1/trading/order-cash")
    assert order.extensions["timeout"]["connect"] == 1.5 and order.extensions["timeout"]["read"] == 4.0


def test_connect_error_through_httpx_is_certainly_unsent(tmp_path, httpx_mock):
    from kis_helpers import make_conn
    from kisoms.kis.client import KisClient

    httpx_mock.add_exception(httpx.ConnectError("refused"))
    with KisClient(make_conn(tmp_path)) as client, pytest.raises(BrokerTransportError) as info:
        client.token()
    assert info.value.maybe_sent is False and "could not connect" in str(info.value)


def test_numeric_rt_cd_is_understood():
    assert check_response(httpx.Response(200, json={"rt_cd": 0, "output": {}}), "x", envelope=True)["rt_cd"] == 0
    with pytest.raises(BrokerApiError):
        check_response(httpx.Response(200, json={"rt_cd": 1, "msg_cd": "X", "msg1": "m"}), "x", envelope=True)


def test_a_server_error_with_a_kis_body_is_not_a_reject():
    reply = httpx.Response(500, json={"rt_cd": "1", "msg_cd": "EGW00002", "msg1": "서버 에러"})
    with pytest.raises(BrokerTransportError) as info:
        check_response(reply, "order-cash")
    assert info.value.maybe_sent is True and "EGW00002" in str(info.value)
