"""`python -m kisoms.sim` as a separate process: ready file, a token request, clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kisoms.sim.scenario import default_scenario


def wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"simulator exited early: {proc.communicate()}"
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.02)
    return json.loads(path.read_text())


@pytest.fixture
def proc(tmp_path):
    ready = tmp_path / "ready.json"
    p = subprocess.Popen([sys.executable, "-m", "kisoms.sim", "--port", "0", "--ready-file", str(ready),
                          "--state", str(tmp_path / "state.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield p, wait_for_file(ready, p)
    if p.poll() is None:
        p.kill()
        p.communicate()


def test_ready_file_names_the_urls(proc):
    p, info = proc
    assert info["rest_url"].startswith("http://127.0.0.1:") and info["ws_url"].startswith("ws://127.0.0.1:")
    assert info["pid"] == p.pid


def test_serves_a_token_then_exits_cleanly_on_sigterm(proc, tmp_path):
    p, info = proc
    key = default_scenario().app_keys[0]
    response = httpx.post(f"{info['rest_url']}/oauth2/tokenP", timeout=5,
                          json={"grant_type": "client_credentials", "appkey": key.app_key, "appsecret": key.app_secret})
    assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
    os.kill(p.pid, signal.SIGTERM)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    assert (tmp_path / "state.json").exists()
