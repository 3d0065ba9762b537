"""``check_response`` and ``scrub`` as a table of what KIS (or a proxy in front of it) may answer, from the
documented rules: an rt_cd != "0" is the broker's answer (its class by msg_cd); a server error with a plain
KIS body, a 5xx or a proxy timeout (408/499) without one may have been sent; other 4xx are refusals; a body
that is not a JSON object, or (for /uapi calls) has no rt_cd, does not parse. Unit level: httpx.Response
objects, no network."""

from __future__ import annotations

import json

import httpx
import pytest

from kisoms import errors
from kisoms.kis.errors_map import check_response, scrub

URL = "https://openapi.koreainvestment.com:9443/uapi/domestic-stock/v1/trading/order-cash"


def reply(status: int, body, content_type: str = "application/json") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return httpx.Response(status, content=content, headers={"content-type": content_type},
                          request=httpx.Request("POST", URL))


OK = {"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "주문 전송 완료 되었습니다.", "output": {"ODNO": "0000000001"}}

CASES = [
    # (status, body, envelope, error class or None, maybe_sent, msg_cd)
    (200, OK, True, None, None, None),
    (200, {"access_token": "x"}, False, None, None, None),  # token endpoints carry no rt_cd
    (200, {"access_token": "x"}, True, errors.BrokerProtocolError, None, None),
    (200, {"rt_cd": "1", "msg_cd": "APBK0919", "msg1": "주문가능금액을 초과 했습니다"}, True, errors.BrokerApiError,
     None, "APBK0919"),
    (200, {"rt_cd": 1, "msg_cd": "APBK0919", "msg1": "x"}, True, errors.BrokerApiError, None, "APBK0919"),
    (200, {"rt_cd": " 0 ", "msg_cd": "", "msg1": ""}, True, None, None, None),
    (200, {"rt_cd": "7", "msg1": "no code"}, True, errors.BrokerApiError, None, ""),
    (500, {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}, True, errors.RateLimited,
     None, "EGW00201"),
    (500, {"rt_cd": "1", "msg_cd": "EGW00123", "msg1": "기간이 만료된 token 입니다."}, True, errors.TokenExpired,
     None, "EGW00123"),
    (403, {"error_code": "EGW00133", "error_description": "1분당 1회"}, False, errors.RateLimited, None,
     "EGW00133"),
    (403, {"error_code": "EGW00103", "error_description": "유효하지 않은 AppKey입니다."}, False, errors.AuthError,
     None, "EGW00103"),
    (500, {"rt_cd": "1", "msg_cd": "EGW00002", "msg1": "서버 에러"}, True, errors.BrokerTransportError, True, None),
    (499, {"rt_cd": "1", "msg_cd": "APBK0919", "msg1": "x"}, True, errors.BrokerApiError, None, "APBK0919"),
    (500, b"<html>Internal Server Error</html>", True, errors.BrokerTransportError, True, None),
    (502, b"<html>Bad Gateway</html>", True, errors.BrokerTransportError, True, None),
    (503, b"", True, errors.BrokerTransportError, True, None),
    (408, b"<html>Request Timeout</html>", True, errors.BrokerTransportError, True, None),
    (499, b"", True, errors.BrokerTransportError, True, None),
    (400, b"<html>Bad Request</html>", True, errors.BrokerApiError, None, "HTTP400"),
    (404, b"not found", True, errors.BrokerApiError, None, "HTTP404"),
    (409, b"", True, errors.BrokerApiError, None, "HTTP409"),
    (499 - 1, b"", True, errors.BrokerApiError, None, "HTTP498"),
    (399, b"", True, errors.BrokerProtocolError, None, None),
    (200, b"\x8b\x00 garbled", True, errors.BrokerProtocolError, None, None),
    (200, b'{"rt_cd": "0", "msg_cd": "APBK', True, errors.BrokerProtocolError, None, None),
    (200, [1, 2], True, errors.BrokerProtocolError, None, None),
    (200, "just a string", False, errors.BrokerProtocolError, None, None),
]


@pytest.mark.parametrize("status, body, envelope, cls, maybe_sent, msg_cd", CASES)
def test_check_response_follows_the_documented_rules(status, body, envelope, cls, maybe_sent, msg_cd):
    response = reply(status, body)
    if cls is None:
        assert check_response(response, "order-cash", envelope=envelope) == body
        return
    with pytest.raises(errors.BrokerError) as raised:
        check_response(response, "order-cash", envelope=envelope)
    assert type(raised.value) is cls
    assert str(raised.value)
    if maybe_sent is not None:
        assert raised.value.maybe_sent is maybe_sent
    if msg_cd is not None:
        assert raised.value.msg_cd == msg_cd and raised.value.http_status == status


def test_envelope_is_off_by_default():
    assert check_response(reply(200, {"access_token": "x"}), "token") == {"access_token": "x"}


def test_a_failure_without_a_message_says_so():
    with pytest.raises(errors.BrokerApiError) as raised:
        check_response(reply(200, {"rt_cd": "1", "msg_cd": "X1"}), "order-cash", envelope=True)
    assert raised.value.message == "rt_cd '1' without a message"
    with pytest.raises(errors.BrokerApiError) as raised:
        check_response(reply(200, {"rt_cd": "1", "msg_cd": "X1", "msg1": "  거부  "}), "order-cash", envelope=True)
    assert raised.value.message == "거부"


def test_protocol_errors_name_what_was_wrong():
    with pytest.raises(errors.BrokerProtocolError, match="reply is not JSON"):
        check_response(reply(200, b"garbled"), "order-cash")
    with pytest.raises(errors.BrokerProtocolError, match="reply is JSON list, not an object"):
        check_response(reply(200, [1]), "order-cash")
    with pytest.raises(errors.BrokerProtocolError, match=r"reply has no rt_cd \(keys: a, b\)"):
        check_response(reply(200, {"b": 1, "a": 2}), "order-cash", envelope=True)
    with pytest.raises(errors.BrokerProtocolError, match=r"reply has no rt_cd \(keys: none\)"):
        check_response(reply(200, {}), "order-cash", envelope=True)
    keys = {f"k{i:02d}": i for i in range(12)}
    with pytest.raises(errors.BrokerProtocolError) as raised:
        check_response(reply(200, keys), "order-cash", envelope=True)
    assert "k09)" in str(raised.value) and "k10" not in str(raised.value)


def test_messages_from_the_broker_are_scrubbed_of_secrets():
    body = {"rt_cd": "1", "msg_cd": "X1", "msg1": "bad key APPKEY-SECRET-VALUE sent"}
    with pytest.raises(errors.BrokerApiError) as raised:
        check_response(reply(200, body), "order-cash", envelope=True, secrets=["APPKEY-SECRET-VALUE"])
    assert "APPKEY-SECRET-VALUE" not in raised.value.message and "***" in raised.value.message
    token = {"error_code": "EGW00103", "error_description": "key APPKEY-SECRET-VALUE refused"}
    with pytest.raises(errors.AuthError) as raised:
        check_response(reply(403, token), "token", secrets=["APPKEY-SECRET-VALUE"])
    assert "APPKEY-SECRET-VALUE" not in raised.value.message


@pytest.mark.parametrize("text, secrets, expected", [
    ("key abcd here", ["abcd"], "key *** here"),  # four characters are masked
    ("key abc here", ["abc"], "key abc here"),  # shorter values are too common to mask
    ("key abcdefgh here", ["abcd", "abcdefgh"], "key *** here"),  # the longest first: nothing half-masked
    ("key abcdefgh here", ["abcdefgh", "abcd"], "key *** here"),
    ("nothing", ["", None], "nothing"),
])
def test_scrub(text, secrets, expected):
    assert scrub(text, secrets) == expected
