"""The commands' signal helper: Ctrl-C, SIGTERM or SIGHUP as a stop event."""

import os
import signal
import time

import pytest

from deploy.services.process import StoppedBySignal
from pipeline.commands.common import stop_on_signals


def test_sigterm_sets_the_stop_event_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sighup_sets_it_too_and_the_command_then_ends_as_stopped_by_it():
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGHUP)
        assert stop.wait(5)
    with pytest.raises(StoppedBySignal, match="stopped by SIGHUP") as stopped:
        stop.raise_if_signalled()
    assert stopped.value.exit_status == 129


def test_a_stop_the_code_requested_itself_is_no_signal():
    with stop_on_signals() as stop:
        stop.set()
    stop.raise_if_signalled()


def test_a_second_signal_does_not_wait_for_the_clean_stop():
    with pytest.raises(StoppedBySignal, match="stopped by SIGINT"), stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
