"""A thread a process cannot run without stops the process when it dies."""

from __future__ import annotations

import threading

import pytest

from ironlb.app.loop import SourceFailed, Supervisor
from ironlb.events.errors import LbError


def test_a_dead_source_stops_the_process_and_is_named():
    stop = threading.Event()
    supervisor = Supervisor(stop)

    def broken() -> None:
        raise KeyError("a bug")

    def refused() -> None:
        raise LbError("the API said no")

    threads = [supervisor.thread("watch/services", broken), supervisor.thread("lease", refused)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stop.is_set()
    with pytest.raises(SourceFailed, match="lease: the API said no") as raised:
        supervisor.check()
    assert "watch/services: KeyError" in str(raised.value)
    assert raised.value.exit_code == 1


def test_sources_that_end_well_leave_the_process_running():
    stop = threading.Event()
    supervisor = Supervisor(stop)
    thread = supervisor.thread("quiet", lambda: None)
    thread.start()
    thread.join()
    assert not stop.is_set()
    supervisor.check()
