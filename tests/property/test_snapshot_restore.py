"""restore(snapshot(fold)) continues exactly like fold, for generated histories.

The histories mix what makes a fold's state more than its world: relists cut in
the middle (a SYNC_END still to come), configurations that turn invalid (the last
valid one stays in force), pending Services, statuses written back, membership and
links. A snapshot is taken at every point; the restored folds are fed the tail and
must plan exactly what the uninterrupted folds plan, after every record.
"""

from __future__ import annotations

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from ironlb.app.snapshots import FoldSnapshot, decode_snapshot, encode_snapshot
from ironlb.events.record import EventType, Record
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.speaker.fold import SpeakerFold
from tests.k8s import (
    endpoints,
    key_of,
    kind_of,
    l2,
    link,
    membership,
    namespace,
    node,
    node_links,
    pool,
    service,
)

NODES = ["n1", "n2", "n3"]
POOLS = {
    "small": ["192.0.2.0/30"],
    "other": ["198.51.100.0/31", "2001:db8::/127"],
    "broken": ["not-an-address"],
}


def objects() -> st.SearchStrategy[dict]:
    return st.one_of(
        st.builds(
            lambda name, blocks, ns: pool(
                name, *blocks, **({"serviceAllocation": {"namespaces": [ns]}} if ns else {})
            ),
            st.sampled_from(["a", "b"]),
            st.sampled_from(list(POOLS.values())),
            st.none() | st.sampled_from(["default", "x"]),
        ),
        st.builds(
            lambda name, ns, family, status: service(
                name,
                ns=ns,
                ips=["10.96.0.1", "fd00::1"] if family else None,
                ipFamilyPolicy="PreferDualStack" if family else "SingleStack",
                status=status,
            ),
            st.sampled_from(["s1", "s2", "s3", "s4"]),
            st.sampled_from(["default", "x"]),
            st.booleans(),
            st.none() | st.sampled_from([["192.0.2.1"], ["198.51.100.0"]]),
        ),
        st.builds(lambda n, up: node(n, unavailable=not up), st.sampled_from(NODES), st.booleans()),
        st.builds(lambda n, alive: membership(n, alive), st.sampled_from(NODES), st.booleans()),
        st.builds(lambda n: node_links(n, link("eth0")), st.sampled_from(NODES)),
        st.builds(
            lambda s, *ns: endpoints(s, *ns), st.sampled_from(["s1", "s2"]), st.sampled_from(NODES)
        ),
        st.builds(
            lambda ns, t: namespace(ns, **({"t": "x"} if t else {})),
            st.sampled_from(["default", "x"]),
            st.booleans(),
        ),
        st.just(l2("all")),
    )


@st.composite
def histories(draw: st.DrawFn) -> list[Record]:
    records: list[Record] = []
    for _ in range(draw(st.integers(1, 40))):
        step = draw(st.sampled_from(["add", "add", "add", "delete", "relist", "end"]))
        if step == "relist":
            kind = draw(
                st.sampled_from(["metallb.io/v1beta1/IPAddressPool", "v1/Node", "v1/Service"])
            )
            records.append(Record(0, 0.0, "watch", EventType.SYNC_START, kind, "", None, {}))
        elif step == "end":
            kind = draw(
                st.sampled_from(["metallb.io/v1beta1/IPAddressPool", "v1/Node", "v1/Service"])
            )
            records.append(Record(0, 0.0, "watch", EventType.SYNC_END, kind, "", None, {}))
        else:
            obj = draw(objects())
            event = EventType.DELETED if step == "delete" else EventType.ADDED
            records.append(Record(0, 0.0, "watch", event, kind_of(obj), key_of(obj), None, obj))
    return [r.with_seq(i + 1) for i, r in enumerate(records)]


def plans(controller: ControllerFold, speaker: SpeakerFold) -> tuple:
    speaker.refresh()
    return (
        controller.plan().to_json(),
        [speaker.node_plan(n).to_json() for n in NODES],
        speaker.config.errors,
    )


@settings(max_examples=150, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(histories(), st.data())
def test_a_restored_fold_continues_exactly(history, data):
    cut = data.draw(st.integers(0, len(history)))
    controller, speaker = ControllerFold(), SpeakerFold(node="n1")
    for record in history[:cut]:
        controller.apply(record)
        speaker.apply(record)
    if data.draw(st.booleans()):
        speaker.refresh()  # a speaker snapshots after a batch, when derived state is fresh
    saved = encode_snapshot(FoldSnapshot(cut, controller, speaker))
    state = decode_snapshot(saved, filed_seq=cut)
    restored_controller = state.controller_fold()
    restored_speaker = state.speaker_fold(node="n1")
    assert plans(restored_controller, restored_speaker) == plans(controller, speaker)
    for record in history[cut:]:
        for fold in (controller, speaker, restored_controller, restored_speaker):
            fold.apply(record)
        assert plans(restored_controller, restored_speaker) == plans(controller, speaker)
    # A snapshot of the restored folds holds the same state: nothing lost or added.
    again = FoldSnapshot(len(history), restored_controller, restored_speaker)
    original = FoldSnapshot(len(history), controller, speaker)
    assert decode_snapshot(encode_snapshot(again)) == decode_snapshot(encode_snapshot(original))
