"""The commands' signal helper: Ctrl-C or SIGTERM as a stop event."""

import os
import signal

from pipeline.commands.common import stop_on_signals


def test_sigterm_sets_the_stop_event_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before

