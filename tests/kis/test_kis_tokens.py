"""The token cache and the one-refresh-one-retry rule on an expired token."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time

import httpx
import pytest

from kisoms.domain.codes import Side
from kisoms.errors import AuthError, RateLimited, TokenExpired
from kisoms.kis.auth import EXPIRY_MARGIN, MIN_ISSUE_INTERVAL, TOKEN_FILE, TokenCache, key_id

from kis_helpers import ACCOUNT, APP_KEY, FakeClock, FakeKis, kis_error, kis_reply

ORDER_OK = kis_reply(msg_cd="APBK0013", output={"ODNO": "1", "KRX_FWDG_ORD_ORGNO": "2", "ORD_TMD": "090000"})


class Issuer:
    def __init__(self, expires_in: float = 86400):
        self.count, self.expires_in = 0, expires_in

    def __call__(self) -> tuple[str, float]:
        self.count += 1
        return f"t{self.count}", self.expires_in


# ------------------------------------------------------------- expired token: one refresh, one retry


@pytest.mark.parametrize("code", ["EGW00123", "EGW00121"])
def test_expired_token_refreshes_once_and_resends_once(tmp_path, code):
    fake = FakeKis()
    fake.script("order_cash", kis_error(code), ORDER_OK)
    with fake.client(tmp_path) as client:
        ack = client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert ack.odno == "1"
    assert fake.tokens_issued == 2
    assert [r.headers["authorization"] for r in fake.calls("order_cash")] == ["Bearer tok-1", "Bearer tok-2"]


def test_second_expiry_is_an_error_not_a_loop(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", kis_error("EGW00123"), kis_error("EGW00123"), ORDER_OK)
    with fake.client(tmp_path) as client, pytest.raises(TokenExpired):
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert fake.tokens_issued == 2 and len(fake.calls("order_cash")) == 2


def test_inquiry_does_not_multiply_token_retries(tmp_path):
    fake = FakeKis()
    fake.default["/uapi/domestic-stock/v1/trading/inquire-balance"] = kis_error("EGW00123")
    with fake.client(tmp_path) as client, pytest.raises(TokenExpired):
        client.inquire_balance(ACCOUNT)
    assert fake.tokens_issued == 2 and len(fake.calls("balance")) == 2


def test_other_auth_errors_are_not_retried(tmp_path):
    fake = FakeKis()
    fake.script("order_cash", kis_error("EGW00103"))
    with fake.client(tmp_path) as client, pytest.raises(AuthError) as info:
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert not isinstance(info.value, TokenExpired)
    assert fake.tokens_issued == 1 and len(fake.calls("order_cash")) == 1


def test_refused_issuance_surfaces_as_rate_limited(tmp_path):
    fake = FakeKis()
    fake.script("token", httpx.Response(403, json={"error_code": "EGW00133", "error_description": "1분당 1회"}))
    with fake.client(tmp_path) as client, pytest.raises(RateLimited):
        client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
    assert fake.calls("order_cash") == []


def test_expired_token_against_the_simulator(tmp_path):
    from kisoms.kis.client import KisClient
    from kisoms.kis.connection import KisConnection
    from kisoms.sim.testing import running_simulator

    with running_simulator() as sim:
        key = sim.scenario.app_keys[0]
        conn = KisConnection(env="sim", rest_url=sim.rest_url, ws_url="", app_key=key.app_key,
                             app_secret=key.app_secret, state_dir=tmp_path, rate_per_sec=1000)
        with KisClient(conn) as client:
            first = client.token()
            sim.admin.add_fault("token_expired", path="/order-cash")
            ack = client.order_cash(ACCOUNT, "005930", Side.BUY, "00", 1, "71000")
            assert client.token() != first
        assert [o["odno"] for o in sim.admin.orders(ACCOUNT)] == [ack.odno]
        assert [f["kind"] for f in sim.admin.fault_log()] == ["token_expired"]


# ------------------------------------------------------------------------------ the cache


def test_token_is_reused_until_near_expiry(tmp_path):
    clock, issue = FakeClock(), Issuer(expires_in=3600)
    cache = TokenCache(tmp_path, APP_KEY, clock=clock.time)
    assert cache.get(issue) == "t1"
    clock.now += 3600 - EXPIRY_MARGIN - 1
    assert cache.get(issue) == "t1" and issue.count == 1
    clock.now += 2
    assert cache.get(issue) == "t2" and issue.count == 2


def test_never_more_than_one_issuance_a_minute(tmp_path):
    clock, issue = FakeClock(), Issuer(expires_in=EXPIRY_MARGIN + 10)  # stale almost at once
    cache = TokenCache(tmp_path, APP_KEY, clock=clock.time)
    assert cache.get(issue) == "t1"
    clock.now += 11
    with pytest.raises(RateLimited) as info:
        cache.get(issue)
    assert info.value.msg_cd == "EGW00133" and issue.count == 1
    clock.now += MIN_ISSUE_INTERVAL
    assert cache.get(issue) == "t2"


def test_a_second_cache_object_shares_the_file(tmp_path):
    clock, issue = FakeClock(), Issuer()
    assert TokenCache(tmp_path, APP_KEY, clock=clock.time).get(issue) == "t1"
    assert TokenCache(tmp_path, APP_KEY, clock=clock.time).get(issue) == "t1" and issue.count == 1


def test_cache_is_keyed_by_app_key_without_storing_it(tmp_path):
    clock, issue = FakeClock(), Issuer()
    TokenCache(tmp_path, APP_KEY, clock=clock.time).get(issue)
    assert TokenCache(tmp_path, "ANOTHER-KEY", clock=clock.time).get(issue) == "t2"
    text = (tmp_path / TOKEN_FILE).read_text()
    assert APP_KEY not in text and set(json.loads(text)) == {key_id(APP_KEY), key_id("ANOTHER-KEY")}


def test_invalidate_forgets_only_that_token(tmp_path):
    clock, issue = FakeClock(), Issuer()
    cache = TokenCache(tmp_path, APP_KEY, clock=clock.time)
    cache.get(issue)
    cache.invalidate("some-older-token")
    assert cache.get(issue) == "t1"
    cache.invalidate("t1")
    assert cache.get(issue) == "t2"


def test_token_and_lock_files_are_private(tmp_path):
    TokenCache(tmp_path, APP_KEY).get(Issuer())
    for name in (TOKEN_FILE, TOKEN_FILE + ".lock"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600, name


def test_private_even_over_a_leftover_temp_file(tmp_path):
    leftover = tmp_path / f"{TOKEN_FILE}.{os.getpid()}.tmp"
    leftover.write_text("{}")
    leftover.chmod(0o644)
    TokenCache(tmp_path, APP_KEY).get(Issuer())
    assert stat.S_IMODE(os.stat(tmp_path / TOKEN_FILE).st_mode) == 0o600


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"null", b"",
                                     json.dumps({key_id(APP_KEY): "garbage"}).encode(),
                                     json.dumps({key_id(APP_KEY): {"token": "x", "expires_at": "soon",
                                                                   "issued_at": None}}).encode(),
                                     json.dumps({key_id(APP_KEY): {"token": 5, "expires_at": 9e99}}).encode()])
def test_corrupt_cache_file_means_a_fresh_token(tmp_path, content):
    (tmp_path / TOKEN_FILE).write_bytes(content)
    issue = Issuer()
    cache = TokenCache(tmp_path, APP_KEY)
    assert cache.get(issue) == "t1"
    assert cache.get(issue) == "t1" and issue.count == 1
    cache.invalidate("t1")
    assert json.loads((tmp_path / TOKEN_FILE).read_text()) is not None


def test_processes_share_one_token(tmp_path):
    """Four fresh processes ask the simulator for a token at once: one issuance, one token."""
    from kisoms.sim.testing import running_simulator

    with running_simulator() as sim:
        key = sim.scenario.app_keys[0]
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            start = time.time() + 1.5
            args = [(sim.rest_url, key.app_key, key.app_secret, str(tmp_path), start)] * 4
            tokens = pool.starmap(__import__("kis_workers").sim_token, args)
        assert len(set(tokens)) == 1
        assert list(sim.simulator.tokens) == tokens[:1]
