"""The observed world: records become changes, and relists delete what they missed."""

from __future__ import annotations

from ironlb.events.record import EventType, Record
from ironlb.reconcile.world import World

SYNC_START, SYNC_END = EventType.SYNC_START, EventType.SYNC_END
ADDED, MODIFIED, DELETED = EventType.ADDED, EventType.MODIFIED, EventType.DELETED


def rec(seq, kind_type, key="", *, source="watch", kind="v1/Service", obj=None):
    return Record(seq, 0.0, source, kind_type, kind, key, None, obj if obj is not None else {})


def test_changes_carry_the_object_before_and_after():
    world = World()
    (added,) = world.apply(rec(1, ADDED, "ns/a", obj={"v": 1}))
    assert (added.kind, added.key, added.before, added.after) == ("Service", "ns/a", None, {"v": 1})
    (modified,) = world.apply(rec(2, MODIFIED, "ns/a", obj={"v": 2}))
    assert (modified.before, modified.after, modified.seq) == ({"v": 1}, {"v": 2}, 2)
    (deleted,) = world.apply(rec(3, DELETED, "ns/a"))
    assert (deleted.before, deleted.after) == ({"v": 2}, None)
    assert world.get("", "Service", "ns/a") is None
    assert world.apply(rec(4, DELETED, "ns/never")) == []  # nothing was there


def test_versions_of_one_kind_are_one_object():
    world = World()
    world.apply(rec(1, ADDED, "ns/p", kind="metallb.io/v1beta1/BGPPeer", obj={"v": 1}))
    (change,) = world.apply(
        rec(2, MODIFIED, "ns/p", kind="metallb.io/v1beta2/BGPPeer", obj={"v": 2})
    )
    assert change.before == {"v": 1}
    assert world.of_kind("metallb.io", "BGPPeer") == {"ns/p": {"v": 2}}


def test_a_relist_deletes_what_its_source_no_longer_delivers_and_nothing_else():
    world = World()
    world.apply(rec(1, ADDED, "ns/kept"))
    world.apply(rec(2, ADDED, "ns/gone"))
    world.apply(rec(3, ADDED, "ns/other", source="elsewhere"))
    world.apply(rec(4, SYNC_START))
    assert world.relisting("", "Service") and not world.relisting("", "Node")
    world.apply(rec(5, ADDED, "ns/kept"))
    changes = world.apply(rec(6, SYNC_END))
    assert [(c.key, c.after) for c in changes] == [("ns/gone", None)]
    assert sorted(world.of_kind("", "Service")) == ["ns/kept", "ns/other"]
    assert not world.relisting("", "Service")


def test_an_end_without_a_start_deletes_nothing():
    world = World()
    world.apply(rec(1, ADDED, "ns/a"))
    assert world.apply(rec(2, SYNC_END)) == []
    assert world.get("", "Service", "ns/a") == {}


def test_an_exported_world_resumes_an_open_relist():
    world = World()
    world.apply(rec(1, ADDED, "ns/kept"))
    world.apply(rec(2, ADDED, "ns/gone"))
    world.apply(rec(3, SYNC_START))
    world.apply(rec(4, ADDED, "ns/kept"))
    restored = World.restore(world.export())
    assert restored.relisting("", "Service")
    assert [c.key for c in restored.apply(rec(5, SYNC_END))] == ["ns/gone"]
