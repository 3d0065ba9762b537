"""Alerts: a real local HTTP receiver and a failing command; at least once, stable ids, never in the way."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine_helpers import ACCOUNT, make_settings, write_config
from engine_helpers import intent as make_intent
from kisoms.domain.order import Fill
from kisoms.domain.states import OrderEvent
from kisoms.engine.alerts import deliver_due, deliver_until_idle
from kisoms.engine.clock import Clock
from kisoms.engine.control import set_halt
from kisoms.engine.runtime import open_runtime
from kisoms.engine.submit import submit
from kisoms.errors import ValidationError
from kisoms.ledger.outbox import health
from test_processes import kisoms as run

START = datetime(2026, 11, 25, 0, 30, tzinfo=timezone.utc)


class StepClock(Clock):
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Receiver:
    """A webhook on loopback: records each POST; answers with the next status queued (200 by default) and
    can be held until the test releases it."""

    def __init__(self):
        self.bodies, self.statuses = [], []
        self.arrived, self.release = threading.Condition(), threading.Event()
        self.release.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.release.wait(30)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()
                with outer.arrived:
                    outer.bodies.append((body, self.headers.get("Idempotency-Key"), status))
                    outer.arrived.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30) -> list:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.bodies) >= n, timeout), self.bodies
            return list(self.bodies)

    def close(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _rt(sim, tmp_path, clock, **alerts):
    settings = make_settings(sim, tmp_path, alerts={"base_delay": 10, "max_delay": 40, "timeout": 5, **alerts})
    return open_runtime(settings, clock=clock)


def test_a_reject_reaches_the_webhook_once_with_a_stable_id(sim, tmp_path, receiver):
    clock = StepClock(START)
    with _rt(sim, tmp_path, clock, webhook=receiver.url) as rt:
        with pytest.raises(ValidationError):
            submit(rt, make_intent(1, price=70001))
        first = deliver_due(rt.ledger, rt.settings, clock)
        again = deliver_due(rt.ledger, rt.settings, clock)
    assert (first.delivered, again.delivered, again.queued) == (1, 0, 0)
    [(body, key, _)] = receiver.bodies
    assert body["kind"] == "reject" and body["id"] == key and body["id"].startswith("ev:")
    assert body["order_id"] == 1 and "PRICE_OFF_TICK" in body["reason"] and "reject" in body["text"]


def test_a_failing_receiver_is_retried_with_backoff_then_delivered_with_the_same_id(sim, tmp_path, receiver):
    clock = StepClock(START)
    receiver.statuses = [500, 503]
    with _rt(sim, tmp_path, clock, webhook=receiver.url, format="slack") as rt:
        set_halt(rt.ledger, "by hand", ACCOUNT)
        assert deliver_due(rt.ledger, rt.settings, clock).failed == 1
        assert deliver_due(rt.ledger, rt.settings, clock).failed == 0  # not due for 10s
        assert health(rt.ledger.conn, 8)["retrying"] == 1
        clock.at += timedelta(seconds=10)
        assert deliver_due(rt.ledger, rt.settings, clock).failed == 1  # second failure: next in 20s
        clock.at += timedelta(seconds=19)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 0
        clock.at += timedelta(seconds=1)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 1
        assert health(rt.ledger.conn, 8) == {"pending": 0, "retrying": 0, "given_up": 0, "last_error": None}
    keys = {key for _, key, _ in receiver.bodies}
    assert len(receiver.bodies) == 3 and len(keys) == 1
    assert set(receiver.bodies[-1][0]) == {"text"} and "halt" in receiver.bodies[-1][0]["text"]  # Slack's shape


def test_a_failing_command_is_retried_until_it_gives_up_and_doctor_says_so(sim, tmp_path):
    clock = StepClock(START)
    command = [sys.executable, "-c", "import sys; sys.stdin.read(); print('no', file=sys.stderr); sys.exit(3)"]
    with _rt(sim, tmp_path, clock, command=command, max_attempts=2) as rt:
        set_halt(rt.ledger, "by hand")
        assert deliver_until_idle(rt.ledger, rt.settings, clock)  # waits out the retry on the step clock
        state = health(rt.ledger.conn, 2)
    assert state["given_up"] == 1 and "exit 3" in state["last_error"] and "no" in state["last_error"]
    config = write_config(sim, tmp_path, alerts={"command": command, "max_attempts": 2})
    out = run(config, "doctor")
    assert "WARN alerts" in out.stdout and "given up" in out.stdout


def test_a_command_gets_the_alert_as_json_on_stdin(sim, tmp_path):
    clock, sink = StepClock(START), tmp_path / "got.jsonl"
    command = [sys.executable, "-c", f"import sys; open({str(sink)!r}, 'a').write(sys.stdin.read() + '\\n')"]
    with _rt(sim, tmp_path, clock, command=command, fills=True) as rt:
        order = submit(rt, make_intent(1)).order
        fill = Fill(order.id, order.broker_order_no, 10, 70000, "093000", "notice",
                    Fill.notice_key(order.order_date, order.broker_order_no, "093000", 10, 70000))
        rt.ledger.record_fill(order.id, fill)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 1
    [alert] = [json.loads(line) for line in sink.read_text().splitlines()]
    assert alert["kind"] == "fill" and alert["order_id"] == order.id and "10 @ 70000" in alert["text"]


def test_an_order_stuck_sending_alerts_once_per_version(sim, tmp_path, receiver):
    clock = StepClock(START)
    with _rt(sim, tmp_path, clock, webhook=receiver.url, ack_timeout=30) as rt:
        from kisoms.engine.submit import create_order, order_cash_request

        order, _ = create_order(rt, make_intent(1))
        rt.ledger.claim(order.id, event=OrderEvent.CLAIM, kind="new", request=order_cash_request(order),
                        tr_id="TTTC0012U", source="test")  # claimed, never sent: a crash before the send
        clock.at += timedelta(seconds=29)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 0
        clock.at += timedelta(seconds=1)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 1
        clock.at += timedelta(seconds=60)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 0
    [(body, key, _)] = receiver.bodies
    assert body["kind"] == "not_acknowledged" and key == f"ack:{order.id}:{body_version(rt, order.id)}"


def body_version(rt, order_id: int) -> int:
    with sqlite3.connect(rt.settings.ledger) as conn:
        return conn.execute("SELECT version FROM orders WHERE id = ?", (order_id,)).fetchone()[0]


def test_a_crash_after_sending_sends_again_with_the_same_id(sim, tmp_path, receiver):
    from kisoms.ledger import outbox
    from kisoms.ledger.db import to_iso

    clock = StepClock(START)
    with _rt(sim, tmp_path, clock, webhook=receiver.url) as rt:
        set_halt(rt.ledger, "by hand")
        outbox.scan(rt.ledger, lambda feed, load: [{"id": "x:1", "kind": "halt", "text": "t"}], ["webhook"],
                    to_iso(clock.now()))
        [row] = outbox.lease_due(rt.ledger, to_iso(clock.now()), to_iso(clock.now() + timedelta(seconds=15)), 8)
        # ... the process sent it and died before marking it: the lease runs out and it goes again
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 0
        clock.at += timedelta(seconds=15)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 1
    assert [key for _, key, _ in receiver.bodies] == ["x:1"]


def test_submit_does_not_wait_for_a_slow_receiver_and_a_later_process_delivers(sim, tmp_path, receiver):
    receiver.release.clear()  # the receiver hangs until released
    config = write_config(sim, tmp_path, alerts={"webhook": receiver.url, "timeout": 20})
    line = json.dumps(make_intent(1, price=70001).model_dump(mode="json"))
    out = run(config, "submit", "--intent", "-", stdin=line, timeout=15)
    assert out.returncode == 3, out.stderr  # returned while the webhook still hangs
    assert receiver.bodies == []
    receiver.release.set()
    [(body, key, status)] = receiver.wait_for(1)
    assert body["kind"] == "reject" and status == 200
    assert "Traceback" not in out.stderr


def test_the_python_api_hands_alerts_to_a_deliverer_too(sim, tmp_path, receiver):
    import kisoms

    config = write_config(sim, tmp_path, alerts={"webhook": receiver.url})
    with kisoms.connect(config) as oms:
        with pytest.raises(ValidationError):
            oms.submit(make_intent(1, price=70001))
    [(body, _, _)] = receiver.wait_for(1)
    assert body["kind"] == "reject" and body["order_id"] == 1


def test_watch_delivers_while_it_runs(sim, tmp_path, receiver):
    import os
    import subprocess

    import kisoms
    from kisoms.config import load_settings

    config = write_config(sim, tmp_path, alerts={"webhook": receiver.url})
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    watch = subprocess.Popen([sys.executable, "-m", "kisoms", "--config", str(config), "--json", "watch", "--poll"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        with kisoms.connect(settings=load_settings(config)) as oms:  # settings given: the API spawns no deliverer
            oms.halt("seen by watch")
        [(body, _, _)] = receiver.wait_for(1)
        assert body["kind"] == "halt" and "seen by watch" in body["text"]
    finally:
        watch.terminate()
        watch.wait(20)


def test_the_holiday_inquiry_decides_the_session_in_real():
    from types import SimpleNamespace

    from kisoms.engine.doctor import check_session

    class Client:
        conn = SimpleNamespace(env="real")

        def _inquire(self, path, tr_id, what, params):
            return {"output": [{"bass_dt": params["BASS_DT"], "opnd_yn": "N"}]}

    tuesday_ten_am = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
    check = check_session(Client(), tuesday_ten_am)
    assert "closed" in check.detail and "KIS holiday inquiry" in check.detail
    Client.conn = SimpleNamespace(env="paper")
    assert "regular" in check_session(Client(), tuesday_ten_am).detail


def test_doctor_warns_when_the_shipped_holiday_table_has_run_out():
    from kisoms.domain.session import HOLIDAYS_KNOWN_THROUGH
    from kisoms.engine.doctor import check_session

    last_day = datetime(HOLIDAYS_KNOWN_THROUGH, 12, 31, 14, 59, tzinfo=timezone.utc)  # 23:59 KST
    assert check_session(None, last_day).status == "pass"
    check = check_session(None, last_day + timedelta(minutes=1))  # 00:00 KST of the next year
    assert check.status == "warn" and f"ends with {HOLIDAYS_KNOWN_THROUGH}" in check.detail
    assert "upgrade" in check.fix


def test_telegram_format_posts_chat_id_and_text_to_the_receiver(sim, tmp_path, receiver):
    clock = StepClock(START)
    with _rt(sim, tmp_path, clock, webhook=receiver.url, format="telegram", chat_id=-1001234567890) as rt:
        set_halt(rt.ledger, "by hand", ACCOUNT)
        assert deliver_due(rt.ledger, rt.settings, clock).delivered == 1
    [(body, key, _)] = receiver.bodies
    assert set(body) == {"chat_id", "text"} and body["chat_id"] == -1001234567890  # Telegram's sendMessage shape
    assert "halt" in body["text"] and key.startswith("ev:")


def test_telegram_without_a_chat_id_is_a_config_error_and_the_webhook_url_is_masked(sim, tmp_path):
    bad = write_config(sim, tmp_path, alerts={"webhook": "https://api.telegram.org/bot123:SECRET/sendMessage",
                                              "format": "telegram"})
    out = run(bad, "status")
    assert out.returncode == 2 and "chat_id" in out.stderr and "SECRET" not in out.stderr
    good = write_config(sim, tmp_path, alerts={"webhook": "https://api.telegram.org/bot123:SECRET/sendMessage",
                                               "format": "telegram", "chat_id": "@desk"})
    shown = json.loads(run(good, "--json", "config", "show").stdout)
    assert shown["alerts.webhook"]["value"] == "https://api.telegram.org/****"
    assert shown["alerts.chat_id"]["value"] == "@desk"
