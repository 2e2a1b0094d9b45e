"""SIGTERM stops a process even when it arrives while the main thread holds the
lock the stop event needs: a second SIGTERM during the first one's handling
deadlocked the speaker forever. Run in a child process, so that a regression
fails here instead of hanging the test run."""

from __future__ import annotations

import subprocess
import sys

NESTED_SIGNALS = """
import os, signal, threading
from ironlb.app.loop import install_signal_handlers
stop = threading.Event()
install_signal_handlers(stop)
# As inside stop.set() when the second SIGTERM came: the event's lock is held by
# the main thread, where Python runs signal handlers.
with stop._cond:
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)
    assert not stop.is_set()  # nobody can set it while the lock is held
assert stop.wait(timeout=30), "the signals did not stop the process"
print("stopped")
"""


def test_signals_while_the_main_thread_holds_the_stop_events_lock_still_stop():
    try:
        done = subprocess.run(
            [sys.executable, "-c", NESTED_SIGNALS], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("deadlocked: a signal handler waited for a held lock") from None
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
