"""The per-app-key rate limit answers EGW00201."""

from __future__ import annotations

import time

from kisoms.sim.scenario import AppKey, default_scenario
from sim_helpers import BALANCE, Kis, assert_kis_error, client, simulator

LIMIT = 3


def balance(kis: Kis):
    return kis.get(BALANCE, "TTTC8434R", {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt})


def scenario_with_two_keys():
    scenario = default_scenario()
    scenario.app_keys.append(AppKey(app_key="SECONDKEY", app_secret="SECONDSECRET"))
    return scenario


def test_calls_over_the_limit_get_egw00201():
    with simulator(rate_limit_per_sec=LIMIT) as sim:
        kis = client(sim).login()
        replies = [balance(kis) for _ in range(LIMIT + 1)]
        kis.close()
    assert all(r.json()["rt_cd"] == "0" for r in replies[:LIMIT])
    assert_kis_error(replies[LIMIT], "EGW00201", 500)


def test_limit_is_per_app_key():
    with simulator(scenario=scenario_with_two_keys(), rate_limit_per_sec=LIMIT) as sim:
        first = client(sim).login()
        second = Kis(sim.rest_url, "SECONDKEY", "SECONDSECRET", first.cano).login()
        for _ in range(LIMIT):
            balance(first)
        assert_kis_error(balance(first), "EGW00201")
        assert balance(second).json()["rt_cd"] == "0"
        first.close(), second.close()


def test_limit_clears_after_a_second():
    with simulator(rate_limit_per_sec=LIMIT) as sim:
        kis = client(sim).login()
        for _ in range(LIMIT + 1):
            balance(kis)
        deadline = time.monotonic() + 3
        while balance(kis).json()["msg_cd"] == "EGW00201":
            assert time.monotonic() < deadline, "rate limit never cleared"
            time.sleep(0.05)
        kis.close()


def test_paper_default_limit_is_two_per_second():
    with simulator(env="paper", rate_limit_per_sec=None) as sim:
        kis = client(sim).login()
        replies = [kis.get(BALANCE, "VTTC8434R", {"CANO": kis.cano, "ACNT_PRDT_CD": kis.prdt}) for _ in range(3)]
        kis.close()
    assert [r.json()["msg_cd"] == "EGW00201" for r in replies] == [False, False, True]
