"""Secrets never reach logs, audit rows or messages: keys at any depth and spelling, bearer tokens and JWTs."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kisoms.domain.codes import Side
from kisoms.domain.redact import MASK, is_secret_key, normalise_key, redact, redact_text

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0b2tlbiIsImV4cCI6MTc2NDAxMjAwMH0.c2lnbmF0dXJlLXBhcnQ"
SECRET_SPELLINGS = [
    "appkey", "AppKey", "app_key", "app-key", "APPKEY", "App-Key", " appkey ",
    "appsecret", "AppSecret", "app_secret", "APP-SECRET", "secretkey", "secret_key",
    "authorization", "Authorization", "access_token", "AccessToken", "accessToken", "approval_key", "approvalKey",
    "token", "hashkey", "password", "api_key", "refresh_token", "client_secret", "my_appkey", "user_password",
    "Proxy-Authorization", "Cookie", "Set-Cookie", "private_key",
]
LOOK_ALIKES = ["token_type", "access_token_token_expired", "expires_in", "tokens", "token_count", "appkey_hint_len",
               "secretary", "keyword", "hash", "app", "key", "rt_cd", "msg_cd", "msg1", "odno"]


# --- Keys ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", SECRET_SPELLINGS)
def test_secret_keys_in_any_spelling_are_masked(key):
    assert is_secret_key(key)
    assert redact({key: "PSabcdef0123456789", "rt_cd": "0"}) == {key: MASK, "rt_cd": "0"}


@pytest.mark.parametrize("key", LOOK_ALIKES)
def test_non_secret_look_alikes_are_kept(key):
    assert not is_secret_key(key)
    assert redact({key: "Bearer"}) == {key: "Bearer"}


def test_token_reply_keeps_its_non_secret_fields():
    reply = {"access_token": JWT, "token_type": "Bearer", "expires_in": 86400,
             "access_token_token_expired": "2026-11-26 09:00:00"}
    assert redact(reply) == {"access_token": MASK, "token_type": "Bearer", "expires_in": 86400,
                             "access_token_token_expired": "2026-11-26 09:00:00"}


@pytest.mark.parametrize("key, normal", [("App-Key", "appkey"), (" APP_SECRET ", "appsecret"),
                                         ("access-token_token-expired", "accesstokentokenexpired")])
def test_normalise_key(key, normal):
    assert normalise_key(key) == normal


def test_secrets_are_masked_at_any_depth():
    payload = {"request": {"headers": {"appkey": "K", "tr_id": "TTTC0012U"},
                           "body": [{"CANO": "50000001", "nested": ({"AppSecret": "S"},)}]},
               "levels": [[[[{"app-key": "deep"}]]]]}
    assert redact(payload) == {"request": {"headers": {"appkey": MASK, "tr_id": "TTTC0012U"},
                                           "body": [{"CANO": "50000001", "nested": [{"AppSecret": MASK}]}]},
                               "levels": [[[[{"app-key": MASK}]]]]}


@pytest.mark.parametrize("value", ["x", 12345, None, ["a", "b"], {"inner": "value"}, ("t",), 1.5, True])
def test_the_whole_value_under_a_secret_key_is_masked_whatever_its_type(value):
    assert redact({"approval_key": value}) == {"approval_key": MASK}


def test_non_string_keys_and_scalars_are_kept():
    assert redact({1: "one", None: 2, (1, 2): [3.5, True, None]}) == {1: "one", None: 2, (1, 2): [3.5, True, None]}
    assert redact(42) == 42 and redact(None) is None and redact(1.5) == 1.5


# --- Text ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [f"Bearer {JWT}", f"bearer {JWT}", f"  BEARER   {JWT}  ", "Bearer abc", "Bearer x"])
def test_a_bearer_token_string_becomes_the_mask(text):
    assert redact(text) == MASK
    assert redact({"header": text}) == {"header": MASK}


@pytest.mark.parametrize("text, expected", [
    (f"401 for Bearer {JWT} at /uapi", "401 for Bearer *** at /uapi"),
    ("auth failed: bearer abcdefgh12345678, retry", "auth failed: bearer ***, retry"),
    (f"token {JWT} expired", "token *** expired"),
    (f"url?token={JWT}&x=1", "url?token=***&x=1"),
    (f"two: {JWT} and {JWT}", "two: *** and ***"),
    ("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. jwt", "unsigned *** jwt"),
    (f"glued: bearer{JWT}", "glued: bearer***"),  # a JWT stuck to a word is still a JWT
    (f"key_{JWT}", "key_***"),
])
def test_tokens_inside_text_are_masked_in_place(text, expected):
    assert redact_text(text) == expected
    assert redact([text]) == [expected]


@pytest.mark.parametrize("text", ["Bearer", "token_type is Bearer", "a Bearer short", "eyJ alone", "eyJabc.def",
                                  "주문 전송 완료", "APBK0013 msg", "", "the bearer of bad news"])
def test_ordinary_text_is_kept(text):
    assert redact_text(text) == text


def test_str_enums_are_kept_as_they_are():
    result = redact({"side": Side.BUY, "list": [Side.SELL]})
    assert result["side"] is Side.BUY and result["list"][0] is Side.SELL


# --- Copies --------------------------------------------------------------------------------------------------

def test_input_is_not_mutated_and_output_shares_no_containers():
    payload = {"appkey": "K", "body": {"items": [{"password": "p"}, [1, 2]], "msg": f"Bearer {JWT}"},
               "tuple": ("a", {"token": "t"})}
    before = copy.deepcopy(payload)
    result = redact(payload)
    assert payload == before
    result["body"]["items"][1].append(3)
    result["body"]["items"].append("x")
    assert payload == before
    assert result["tuple"] == ["a", {"token": MASK}]  # tuples come back as lists


# --- Properties ----------------------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(["Bearer ", "bearer", " ", "\n", "eyJ", "abc", ".", "-", "_", "=", "***", "abcdefgh12",
                             JWT, "token", "Bearer\t", "x", "eyJhbGci.eyJz."])
TEXT = st.one_of(st.text(max_size=30), st.lists(FRAGMENTS, max_size=8).map("".join))
KEYS = st.one_of(st.sampled_from(SECRET_SPELLINGS + LOOK_ALIKES), st.text(max_size=12))
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4),
                               st.tuples(children, children)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(payload=JSON)
def test_redact_is_idempotent(payload):
    once = redact(payload)
    assert redact(once) == once


@settings(max_examples=200, deadline=None)
@given(payload=JSON)
def test_redact_never_mutates_its_input(payload):
    before = copy.deepcopy(payload)
    redact(payload)
    assert payload == before


def secret_values(node):
    """Every value that sits under a secret key, anywhere."""
    if isinstance(node, dict):
        for k, val in node.items():
            if is_secret_key(k):
                yield val
            yield from secret_values(val)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from secret_values(item)


def texts(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for val in node.values():
            yield from texts(val)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from texts(item)


@settings(max_examples=200, deadline=None)
@given(payload=JSON)
def test_no_secret_survives(payload):
    result = redact(payload)
    assert all(val == MASK for val in secret_values(result))
    assert not any(JWT in text for text in texts(result))
