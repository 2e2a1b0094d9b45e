"""Two BFD sessions (RFC 5880) on a simulated link, fuzzed: with isolated losses and
delay jitter below the detection margin they come Up and never report a failure;
a cut path is reported by both within the detection time plus one interval."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.announce.bfd.core import BfdConfig
from ironlb.announce.bfd.packets import BfdState
from tests.bfd_wire import BfdWire

profiles = st.builds(
    BfdConfig,
    desired_min_tx=st.sampled_from([0.05, 0.1, 0.3, 1.0]),
    required_min_rx=st.sampled_from([0.05, 0.1, 0.3, 1.0]),
    detect_mult=st.integers(3, 6),
)


class IsolatedLoss:
    """Drops a packet with probability ``p``, never two in a row from one sender:
    with a multiplier of 3 or more the peer still hears one in each detection time."""

    def __init__(self, p: float, seed: int) -> None:
        self.p, self.rng, self.dropped = p, random.Random(seed), {"a": False, "b": False}

    def __call__(self, sender: str, at: float) -> bool:
        drop = not self.dropped[sender] and self.rng.random() < self.p
        self.dropped[sender] = drop
        return drop


@settings(max_examples=60, deadline=None)
@given(
    a=profiles,
    b=profiles,
    loss=st.floats(0, 0.4),
    jitter=st.floats(0, 0.02),  # below every interval's 25 % jitter margin
    seed=st.integers(0, 2**32),
)
def test_no_failure_is_reported_on_a_lossy_but_working_link(a, b, loss, jitter, seed):
    rng = random.Random(seed)
    wire = BfdWire(
        a, b, delay=lambda: 0.001 + rng.uniform(0, jitter), seed=seed, cut=IsolatedLoss(loss, seed)
    )
    wire.start()
    wire.run_until(120.0)
    assert wire.a.state is wire.b.state is BfdState.UP
    assert wire.downs("a") == wire.downs("b") == []


@settings(max_examples=60, deadline=None)
@given(a=profiles, b=profiles, cut_at=st.floats(10, 30), seed=st.integers(0, 2**32))
def test_a_cut_path_is_reported_by_both_within_the_detection_time(a, b, cut_at, seed):
    wire = BfdWire(a, b, seed=seed, cut=lambda sender, at: at >= cut_at)
    wire.start()
    wire.run_until(cut_at)
    assert wire.a.state is wire.b.state is BfdState.UP
    bounds = {"a": wire.a.detection_time, "b": wire.b.detection_time}
    wire.run_until(cut_at + 60.0)
    for name, bound in bounds.items():
        (down,) = wire.downs(name)
        assert down <= cut_at + bound + 1e-9, (name, down - cut_at, bound)
