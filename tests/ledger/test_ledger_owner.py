"""Claim owners: which process claimed a request, and whether it still lives (real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from kisoms.ledger.owner import OwnerState, current_owner, owner_state


def _tag_of(pid: int) -> str:
    start = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19] if os.path.exists(f"/proc/{pid}") else ""
    return f"{socket.gethostname()}|{pid}|{start}"


def test_this_process_is_this():
    assert owner_state(current_owner()) is OwnerState.THIS


def test_a_running_process_is_alive_and_a_reaped_one_dead():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    tag = _tag_of(child.pid)
    try:
        assert owner_state(tag) is OwnerState.ALIVE
    finally:
        child.communicate(b"")
    assert owner_state(tag) is OwnerState.DEAD


def test_an_exited_unreaped_process_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    tag = _tag_of(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
    try:
        assert owner_state(tag) is OwnerState.DEAD
    finally:
        child.wait()


def test_a_recycled_pid_is_not_the_owner():
    pid = os.getppid()  # alive, but started at another time than the tag says
    assert owner_state(f"{socket.gethostname()}|{pid}|1") is OwnerState.DEAD


def test_other_hosts_and_missing_tags_cannot_be_told():
    assert owner_state(None) is OwnerState.UNKNOWN
    assert owner_state("") is OwnerState.UNKNOWN
    assert owner_state("garbage") is OwnerState.UNKNOWN
    assert owner_state(f"not-{socket.gethostname()}|{os.getpid()}|1") is OwnerState.UNKNOWN
