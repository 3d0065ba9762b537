"""Token, revoke, approval key and hashkey rules."""

from __future__ import annotations

import clocks

from datetime import datetime, timedelta

from sim_helpers import BALANCE, KST, assert_kis_error, assert_token_error


def balance_params(kis) -> dict:
    return {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt}


def test_token_is_a_bearer_token_valid_for_a_day(anon):
    response = anon.issue_token()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    assert 86_000 <= body["expires_in"] <= 86_400
    expires = datetime.strptime(body["access_token_token_expired"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
    assert abs(expires - clocks.now() - timedelta(days=1)) < timedelta(minutes=1)


def test_second_token_within_a_minute_is_refused_with_egw00133(anon):
    assert anon.issue_token().status_code == 200
    response = anon.issue_token()
    assert response.status_code == 403
    assert_token_error(response, "EGW00133")


def test_token_asked_again_within_six_hours_is_the_same_token(sim, anon):
    first = anon.issue_token().json()["access_token"]
    sim.admin.configure(token_min_interval=0)
    assert anon.issue_token().json()["access_token"] == first


def test_token_works_on_a_kis_endpoint(kis):
    response = kis.get(BALANCE, "TTTC8434R", balance_params(kis))
    assert response.status_code == 200 and response.json()["rt_cd"] == "0"


def test_bad_app_secret_gets_the_token_error_shape(anon):
    anon.app_secret = "wrong"
    assert_token_error(anon.issue_token(), "EGW00103")


def test_unknown_app_key_gets_the_token_error_shape(anon):
    anon.app_key = "NOSUCHKEY"
    assert_token_error(anon.issue_token(), "EGW00103")


def test_revoked_token_no_longer_works(sim, kis):
    response = kis.http.post("/oauth2/revokeP", json={"appkey": kis.app_key, "appsecret": kis.app_secret,
                                                      "token": kis.token})
    assert response.status_code == 200 and response.json()["code"] == 200
    assert_kis_error(kis.get(BALANCE, "TTTC8434R", balance_params(kis)), "EGW00121", 500)


def test_revoke_with_a_bad_secret_is_refused(kis):
    response = kis.http.post("/oauth2/revokeP", json={"appkey": kis.app_key, "appsecret": "x", "token": kis.token})
    assert_token_error(response, "EGW00103")
    assert kis.get(BALANCE, "TTTC8434R", balance_params(kis)).json()["rt_cd"] == "0"


def test_token_after_revoke_is_a_new_one(sim, kis):
    kis.http.post("/oauth2/revokeP", json={"appkey": kis.app_key, "appsecret": kis.app_secret, "token": kis.token})
    sim.admin.configure(token_min_interval=0)
    assert kis.issue_token().json()["access_token"] != kis.token


def test_approval_key_uses_secretkey(anon):
    assert len(anon.approval_key()) > 10


def test_approval_with_appsecret_field_instead_of_secretkey_is_refused(anon):
    response = anon.http.post("/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": anon.app_key,
                                                        "appsecret": anon.app_secret})
    assert_token_error(response, "EGW00103")


def test_hashkey_returns_hash_of_the_body(kis):
    body = kis.order_body("005930", 1, 70000)
    response = kis.http.post("/uapi/hashkey", headers=kis.headers(""), json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["BODY"] == body and isinstance(data["HASH"], str) and len(data["HASH"]) >= 32


def test_hashkey_with_a_bad_secret_gets_the_kis_error_shape(kis):
    headers = {**kis.headers(""), "appsecret": "wrong"}
    assert_kis_error(kis.http.post("/uapi/hashkey", headers=headers, json={}), "EGW00103")


def test_hashkey_with_malformed_json_gets_the_kis_error_shape(kis):
    response = kis.http.post("/uapi/hashkey", headers=kis.headers(""), content=b"{not json")
    assert response.status_code < 500
    assert_kis_error(response)
