"""A standalone speaker reads the log it follows only as fast as it folds it:
reading is far faster, and a whole log queued at once held 500 MB."""

from __future__ import annotations

import threading

from ironlb.app import speaker as speaker_app
from ironlb.app.speaker import SpeakerRuntime
from ironlb.events.own_kinds import CURSOR_KIND
from ironlb.store import open_store
from tests.k8s import records, service


class _StopWhenAskedToWait(threading.Event):
    """The follower waits on ``stop`` only when the queue is full: end the run there."""

    waited = False

    def wait(self, timeout: float | None = None) -> bool:
        self.waited = True
        self.set()
        return True


def test_the_follower_stops_reading_while_the_main_loop_has_enough_queued(tmp_path):
    total = speaker_app.FOLLOW_AHEAD * 3
    url = f"file://{tmp_path / 'events'}"
    with open_store(url) as events:
        events.append(records(*(service(f"s{i}") for i in range(total))))
    runtime = SpeakerRuntime("n1", events_url=url, store_url=f"file://{tmp_path / 'own'}")
    runtime.stop = _StopWhenAskedToWait()
    follower = threading.Thread(target=runtime._follow_events)
    follower.start()  # returns once it had to wait for room
    follower.join(timeout=120)  # a bound on failure only: it returns at once when right
    runtime.stop.set()  # a follower that never waits for room is still reading: end it
    follower.join()
    assert runtime.stop.waited
    queued = [runtime.incoming.get_nowait() for _ in range(runtime.incoming.qsize())]
    copied = [r for r in queued if r.kind != CURSOR_KIND]
    # Whole batches of up to 1,000 are read, each closed by its cursor record.
    assert speaker_app.FOLLOW_AHEAD < len(queued) <= speaker_app.FOLLOW_AHEAD + 1001
    assert len(copied) < total
    assert [r.key for r in copied] == [f"default/s{i}" for i in range(len(copied))]
    assert queued[-1].kind == CURSOR_KIND and queued[-1].object["seq"] == len(copied)
