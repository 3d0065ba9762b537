"""App key, app secret, access token and approval key never show in reprs, error messages or log records."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from kisoms.domain.codes import Side
from kisoms.errors import BrokerApiError, BrokerError
from kisoms.kis.client import KisClient
from kisoms.kis.connection import KisConnection
from kisoms.kis.errors_map import scrub

from kis_helpers import ACCOUNT, APP_KEY, APP_SECRET, FakeKis, kis_error, make_conn


def assert_clean(text: str, *secrets: str) -> None:
    for secret in (APP_KEY, APP_SECRET, *secrets):
        assert secret not in text, f"secret {secret[:6]}… leaked into: {text[:300]}"


def test_reprs_hide_credentials(tmp_path):
    conn = make_conn(tmp_path)
    client = KisClient(conn, transport=httpx.MockTransport(FakeKis().handler))
    from kisoms.kis.ws import NoticeStream

    for obj in (conn, client, client.tokens, client.limiter, NoticeStream(conn, lambda: "x"), vars(client)):
        assert_clean(repr(obj))
        assert_clean(str(obj))
    assert "env='real'" in repr(conn)


def test_echoed_credentials_are_masked_in_api_errors(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeKis()
    echo = f"invalid appkey {APP_KEY} / secret {APP_SECRET} / token tok-1 (Bearer tok-1)"
    fake.script("order_cash", kis_error("EGW00103", echo))
    with fake.client(tmp_path) as client, pytest.raises(BrokerApiError) as info:
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    err = info.value
    for text in (str(err), err.message, repr(err), *map(str, err.args)):
        assert_clean(text, "tok-1")
    assert err.msg_cd == "EGW00103" and "invalid appkey ***" in err.message
    assert_clean(caplog.text, "tok-1")


def test_echoed_credentials_are_masked_in_token_errors(tmp_path):
    fake = FakeKis()
    fake.script("token", httpx.Response(403, json={"error_code": "EGW00103",
                                                   "error_description": f"bad {APP_KEY}:{APP_SECRET}"}))
    with fake.client(tmp_path) as client, pytest.raises(BrokerError) as info:
        client.token()
    assert_clean(str(info.value))


def test_echoed_token_is_masked_in_retry_logs(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fake = FakeKis()
    fake.script("balance", kis_error("EGW00201", "too fast for token tok-1 of " + APP_KEY))
    with fake.client(tmp_path) as client:
        client.inquire_balance(ACCOUNT)
    assert "retrying" in caplog.text
    assert_clean(caplog.text, "tok-1")


def test_scrub_masks_longest_first_and_ignores_empty():
    assert scrub("a-SECRET-b", ["SECRET", "", None or ""]) == "a-***-b"
    assert scrub("Bearer abcdefghijk and key ABCD1234", ["ABCD1234"]) == "Bearer *** and key ***"


def test_a_whole_session_logs_no_secret(tmp_path, caplog):
    """Token, approval key, order, inquiry, WebSocket subscribe and a notice against the simulator, all at DEBUG."""
    from kisoms.kis.ws import ConnectionState, NoticeStream
    from kisoms.sim.testing import running_simulator

    caplog.set_level(logging.DEBUG)
    with running_simulator() as sim:
        key = sim.scenario.app_keys[0]
        conn = KisConnection(env="sim", rest_url=sim.rest_url, ws_url=sim.ws_url, app_key=key.app_key,
                             app_secret=key.app_secret, hts_id="simuser", state_dir=tmp_path, rate_per_sec=1000)
        with KisClient(conn) as client:
            approval = client.issue_approval_key()

            async def session():
                stream = NoticeStream(conn, lambda: approval)
                async for item in stream:
                    if isinstance(item, ConnectionState) and item.kind == "connected":
                        await asyncio.to_thread(client.order_cash, ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
                    elif not isinstance(item, ConnectionState):
                        await stream.close()

            asyncio.run(asyncio.wait_for(session(), 10))
            client.inquire_balance(ACCOUNT)
            token = client.token()
    secrets = (key.app_key, key.app_secret, token, approval)
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for secret in secrets:
            assert secret not in text, f"{record.name}: {text[:200]}"
