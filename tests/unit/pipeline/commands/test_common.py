"""The commands' signal helpers: SIGTERM as a stop event, or as Ctrl-C."""

import os
import signal

import pytest

from pipeline.commands.common import sigterm_as_ctrl_c, stop_on_signals


def test_sigterm_sets_the_stop_event_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_interrupts_like_ctrl_c_and_the_handler_comes_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_ctrl_c():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()
    assert signal.getsignal(signal.SIGTERM) is before
