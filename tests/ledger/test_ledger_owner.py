"""Claim owners: which process claimed a request, and whether it still lives (real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from kisoms.ledger.control import OwnerState, current_owner, owner_state, tag_for

_tag_of = tag_for


def _with(tag: str, index: int, value: str) -> str:
    parts = tag.split("|")
    parts[index] = value
    return "|".join(parts)


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
    assert owner_state(_with(tag_for(pid), 2, "1")) is OwnerState.DEAD


def test_other_hosts_namespaces_boots_and_missing_tags_cannot_be_told():
    me = current_owner()
    assert owner_state(None) is OwnerState.UNKNOWN
    assert owner_state("") is OwnerState.UNKNOWN
    assert owner_state("garbage") is OwnerState.UNKNOWN
    assert owner_state(f"{socket.gethostname()}|{os.getpid()}|1") is OwnerState.UNKNOWN  # an old short tag
    assert owner_state(_with(me, 0, "not-" + socket.gethostname())) is OwnerState.UNKNOWN
    # a container sharing the ledger and the hostname: its pids mean other processes here
    assert owner_state(_with(me, 3, "pid:[1]")) is OwnerState.UNKNOWN
    assert owner_state(_with(me, 4, "another-boot")) is OwnerState.UNKNOWN  # written before a reboot
