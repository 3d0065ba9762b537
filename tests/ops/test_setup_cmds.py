"""`kisoms config show` and `kisoms sim status|stop`, in real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine_helpers import write_config
from kisoms.config import load_settings
from kisoms.config_sources import ENV_OVERRIDES, explain
from kisoms.engine.simdaemon import status as daemon_status
from kisoms.engine.simdaemon import ensure_local_simulator
from test_processes import kisoms as run


def test_config_show_names_the_source_of_every_value(sim, tmp_path):
    config = write_config(sim, tmp_path)
    out = run(config, "--json", "config", "show", env={"KISOMS_ENV": "sim", "KISOMS_APP_KEY": "K" * 36,
                                                       "KISOMS_APP_SECRET": "hush-hush-secret"})
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["config file"] == {"value": str(config), "source": "flag --config"}
    assert shown["env"]["source"] == "env KISOMS_ENV"
    assert shown["rest_url"] == {"value": sim.rest_url, "source": f"file {config}"}
    assert shown["retry.read_timeout"]["source"] == f"file {config}"
    assert shown["price_policy"] == {"value": "reject", "source": "default"}
    assert shown["app_key"] == {"value": "****", "source": "env KISOMS_APP_KEY"}
    assert "hush-hush-secret" not in out.stdout and "K" * 36 not in out.stdout
    human = run(config, "config", "show")
    assert human.returncode == 0 and "source" in human.stdout


def test_without_a_file_the_sim_defaults_say_so():
    shown = {e.key: e for e in explain(None, None, environ={})}
    assert shown["config file"].source == "default (no file)"
    assert shown["default_account"].source == "sim default"
    assert shown["accounts.50000001-01.trading_allowed"].source == "sim default"
    assert shown["app_secret"].value == "****" and shown["app_secret"].source.startswith("sim default")


def test_a_paper_setup_without_credentials_shows_them_missing(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('env = "paper"\n')
    shown = {e.key: e for e in explain(str(path), None, environ={})}
    assert shown["app_key"].source == "missing" and shown["app_key"].value is None


@pytest.mark.parametrize("key,var", ENV_OVERRIDES)
def test_the_env_overrides_listed_are_the_ones_config_applies(key, var, tmp_path):
    value = {"env": "paper", "state_dir": str(tmp_path)}.get(key, "http://127.0.0.1:1")
    assert str(getattr(load_settings(None, environ={var: value}), key)) == value


def test_sim_status_and_stop_the_auto_started_daemon(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "c.toml"
    config.write_text(f'env = "sim"\nstate_dir = "{state}"\n')
    ensure_local_simulator(state)
    try:
        shown = json.loads(run(config, "--json", "sim", "status").stdout)
        assert shown["running"] and shown["pid"] and shown["rest_url"].startswith("http://127.0.0.1:")
        stopped = run(config, "sim", "stop")
        assert stopped.returncode == 0 and f"pid {shown['pid']}" in stopped.stdout
        assert not daemon_status(state).running
        assert "not running" in run(config, "sim", "status").stdout
        assert "was not running" in run(config, "sim", "stop").stdout
    finally:
        found = daemon_status(state)
        if found.running:
            os.kill(found.pid, 15)


def test_kisoms_sim_still_serves(tmp_path):
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "kisoms", "sim", "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once listening
        assert "KIS simulator REST" in line
    finally:
        proc.terminate()
        assert proc.wait(20) in (0, -15)  # SIGTERM may land before its handler is installed
