"""The usual grant (``_quick``: the mark this limiter last wrote, kept with its position, the file mapped)
decides and writes exactly what the general path (``_grant``) does, and lets go of what it kept as soon as
another limiter, here or in another process, wrote the line."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from kisoms.kis.ratelimit import HEAD, RATE_FILE, RateLimiter

from kis_helpers import APP_KEY, FakeClock


class World:
    """Two limiters on one state dir (two processes, as far as the file is concerned) and their clock."""

    def __init__(self, state_dir, rate: float, margin: float, quick: bool):
        self.clock, self.path = FakeClock(), state_dir / RATE_FILE
        self.limiters = [RateLimiter(state_dir, APP_KEY, rate, margin=margin, clock=self.clock.time,
                                     sleep=self.clock.sleep) for _ in range(2)]
        self.quick_grants, self.open = 0, [[], []]
        for limiter in self.limiters:
            if quick:
                limiter._quick = self._counting(limiter._quick)
            else:
                limiter._quick = lambda: None  # the general path only

    def _counting(self, quick):
        def counted():
            ticket = quick()
            self.quick_grants += ticket is not None
            return ticket
        return counted

    def step(self, op: str, who: int, arg: float):
        limiter = self.limiters[who]
        if op == "request":  # at about the pace: begin, the reply a little later, finish
            self.clock.now += arg
            ticket = limiter.begin()
            self.clock.now += 0.004
            limiter.finish(ticket)
            return ticket
        if op == "begin":
            self.open[who].append(limiter.begin())
            return self.open[who][-1]
        if op == "finish" and self.open[who]:
            limiter.finish(self.open[who].pop(0))
        elif op == "acquire":
            limiter.acquire()
        elif op == "penalize":
            limiter.penalize()
        elif op == "wait":
            self.clock.now += arg
        return self.clock.now


def contents(path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def script(seed: int, n: int, rate: float) -> list[tuple[str, int, float]]:
    """Mostly one limiter bracketing requests at about the pace, sometimes the other one, a refusal, a
    burst, a pause, a stale request, a clock jump."""
    rnd = random.Random(seed)
    ops = rnd.choices(["request", "begin", "finish", "acquire", "penalize", "wait"], [70, 5, 6, 3, 1, 15], k=n)
    waits = [0.001, 0.4, 1.5, 31.0, -0.3, -4000.0]
    return [(op, int(rnd.random() < 0.05), 1.05 / rate if op == "request" else rnd.choice(waits)) for op in ops]


@pytest.mark.parametrize("rate, margin", [(20.0, 0.01), (4.0, 0.0), (2.5, 0.0)])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_usual_grant_writes_what_the_general_path_writes(tmp_path, rate, margin, seed):
    (tmp_path / "quick").mkdir(), (tmp_path / "general").mkdir()
    quick = World(tmp_path / "quick", rate, margin, quick=True)
    general = World(tmp_path / "general", rate, margin, quick=False)
    for i, (op, who, arg) in enumerate(script(seed, 600, rate)):
        assert quick.step(op, who, arg) == general.step(op, who, arg), (i, op, who)
        assert contents(quick.path) == contents(general.path), (i, op, who)
    assert quick.clock.sleeps == general.clock.sleeps
    assert quick.quick_grants >= 30  # (the usual grant did happen, and not only in a corner)


def test_a_grant_elsewhere_in_between_is_decoded_anew(tmp_path):
    clock = FakeClock()
    a = RateLimiter(tmp_path, APP_KEY, 20, margin=0.01, clock=clock.time, sleep=clock.sleep)
    b = RateLimiter(tmp_path, APP_KEY, 20, margin=0.01, clock=clock.time, sleep=clock.sleep)
    a.finish(a.begin())
    a.finish(a.begin())  # a now keeps the mark it wrote
    mark = a._seen[3][0]
    b.finish(b.begin())  # b moves the mark on
    line = (tmp_path / RATE_FILE).read_bytes()
    assert line.find(b"N", HEAD) != mark and line.count(b"N") == 1
    granted = [a.begin() for _ in range(3)]
    line = (tmp_path / RATE_FILE).read_bytes()
    assert line.count(b"N") == 1 and len(set(granted)) == 3
    assert min(y - x for x, y in zip(granted, granted[1:])) >= 1 / 20


def _grant_once(state_dir: str, at: float) -> float:
    """In another process: one request bracketed at ``at`` (the caller's clock has no hold on this one)."""
    limiter = RateLimiter(__import__("pathlib").Path(state_dir), APP_KEY, 20, margin=0.01, clock=lambda: at,
                          sleep=lambda seconds: pytest.fail("the other process should not have to wait"))
    ticket = limiter.begin()
    limiter.finish(ticket)
    return ticket


def test_another_process_granting_in_between_is_not_overlooked(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 20, margin=0.01, clock=clock.time, sleep=clock.sleep)
    for _ in range(3):
        limiter.finish(limiter.begin())
        clock.now += 0.06
    assert limiter._seen is not None  # it keeps the mark it last wrote ...
    with multiprocessing.get_context("fork").Pool(1) as pool:
        theirs = pool.apply(_grant_once, (str(tmp_path), clock.now))  # ... which another process moves
    clock.now += 0.001
    ours = limiter.begin()
    assert ours - theirs >= 1 / 20  # the pace counted their grant: ours waited for it
    assert clock.sleeps and (tmp_path / RATE_FILE).read_bytes().count(b"N") == 1


def test_starting_over_an_unreadable_file_never_shrinks_it(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 20, margin=0.01, clock=clock.time, sleep=clock.sleep)
    limiter.finish(limiter.begin())
    (tmp_path / RATE_FILE).write_bytes(b"\x00" * 5000)  # (a mapping of the old file stays in bounds)
    clock.now += 1
    limiter.finish(limiter.begin())
    data = (tmp_path / RATE_FILE).read_bytes()
    assert len(data) == 5000 and data.count(b"N") == 1
    ours, rest = data.split(b"\n", 1)
    assert set(rest) == {ord(" "), ord("\n")} and rest.endswith(b"\n")  # a line of no key
    other = RateLimiter(tmp_path, "OTHER-KEY", 20, margin=0.01, clock=clock.time, sleep=clock.sleep)
    other.acquire()  # appended after it, read by everyone
    assert (tmp_path / RATE_FILE).read_bytes().startswith(data)
    clock.now += 1
    due = clock.now
    assert limiter.begin() == due and limiter._seen is not None


def test_a_ticket_finished_after_close_still_counts(tmp_path):
    clock = FakeClock()
    limiter = RateLimiter(tmp_path, APP_KEY, 1, clock=clock.time, sleep=clock.sleep)
    limiter.finish(limiter.begin())
    clock.now += 5
    ticket = limiter.begin()
    limiter.close()
    clock.now += 0.5
    limiter.finish(ticket)  # (under the lock, on the file opened again)
    assert b"f" * 16 not in (tmp_path / RATE_FILE).read_bytes()
    later = RateLimiter(tmp_path, APP_KEY, 1, clock=clock.time, sleep=clock.sleep)
    assert later.begin() >= ticket + 1.5  # a window after its finish


def test_threads_of_one_process_take_turns(tmp_path):
    """``flock`` excludes other processes, not two threads sharing the file: a grant in one thread waits
    until another thread's grant is written (the approval key is fetched in a worker thread, say)."""
    import threading

    held, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def clock() -> float:  # read by a grant under its locks
        name = threading.current_thread().name
        if name == "first" and not held.is_set():
            held.set()
            release.wait(30)
        elif name == "second":
            second_in.set()
        return 1000.0

    limiter = RateLimiter(tmp_path, APP_KEY, 20, clock=clock, sleep=lambda s: None)
    tickets: list[float] = []
    threads = [threading.Thread(target=lambda: tickets.append(limiter.begin()), name=n) for n in ("first", "second")]
    threads[0].start()
    assert held.wait(30)
    threads[1].start()
    try:
        assert not second_in.wait(0.5), "a second thread granted while the first was inside its grant"
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert second_in.is_set() and tickets == [1000.0, 1000.0]
    limiter.close()
