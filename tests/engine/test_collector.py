"""The cycle collector paused around bulk work: off inside, as it was after, whatever happens inside."""

from __future__ import annotations

import gc

import pytest

from kisoms.engine.collector import collector_paused


def test_off_inside_and_on_again_after():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_on_again_after_the_block_raises():
    with pytest.raises(KeyError):
        with collector_paused():
            raise KeyError("x")
    assert gc.isenabled()


def test_left_off_when_the_caller_had_it_off_and_nesting_keeps_the_outer_choice():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # (the inner block does not turn it back on under the outer one)
    assert gc.isenabled()
