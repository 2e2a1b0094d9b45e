"""SIGTERM stops a process even when it arrives while the main thread holds the
lock the stop event needs: a second SIGTERM during the first one's handling
deadlocked the speaker forever; and a SIGTERM to a child the process forked ends
the child, not the process (pyroute2 forks one to enter a network namespace and
terminates it: the speaker stopped, exit status 0, when that came early). Run in a
child process, so that a regression fails here instead of hanging the test run."""

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


FORKED_CHILD = """
import os, signal, threading
from ironlb.app.loop import install_signal_handlers
stop = threading.Event()
install_signal_handlers(stop)
ready_read, ready_write = os.pipe()
child = os.fork()
if child == 0:
    # Past fork's own signal reset (a signal before it would be lost, not handled).
    os.write(ready_write, b"r")
    signal.pause()  # as a helper waiting for work, with the parent's handlers
    os._exit(0)
assert os.read(ready_read, 1) == b"r"
os.kill(child, signal.SIGTERM)
_, status = os.waitpid(child, 0)
# Ended by the signal, its default action: the parent's handler, which only
# passes the signal on to the parent's loop, would have let the child go on.
assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
assert not stop.is_set()
os.kill(os.getpid(), signal.SIGTERM)
assert stop.wait(timeout=30), "the parent's own SIGTERM no longer stops it"
print("stopped")
"""


def test_a_sigterm_to_a_forked_child_ends_the_child_and_not_the_process():
    done = subprocess.run(
        [sys.executable, "-c", FORKED_CHILD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
