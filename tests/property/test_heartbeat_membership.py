"""The heartbeat membership core on a simulated LAN (tests/heartbeat_sim.py): with
loss, reordering and jitter up to half the interval, no live speaker is ever judged
dead; after a kill every live speaker agrees within a bounded time; a speaker cut
off from the others cannot fail them over, while they fail it over."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.heartbeat_sim import Network, Simulation

INTERVAL, TIMEOUT, STEP = 0.1, 0.4, 0.01
WARM_UP = 1.0


def networks() -> st.SearchStrategy[Network]:
    return st.builds(
        Network,
        loss=st.floats(0, 0.3),
        max_consecutive_losses=st.integers(0, 2),  # the timeout is four intervals
        delay=st.floats(0.0005, 0.005),
        jitter=st.floats(0, INTERVAL / 2),
    )


def detection_bound(network: Network) -> float:
    """Silence for a timeout after the last beat arrived, then the other speakers'
    beats saying so (up to max_consecutive_losses of them lost), then delivery."""
    worst_delay = network.delay + network.jitter
    return (
        worst_delay + TIMEOUT + (network.max_consecutive_losses + 1) * INTERVAL
        + worst_delay + 3 * STEP
    )  # fmt: skip


def simulation(size: int, network: Network, seed: int) -> Simulation:
    nodes = [f"node{i}" for i in range(size)]
    return Simulation(nodes, network, random.Random(seed), interval=INTERVAL, timeout=TIMEOUT,
                      step=STEP)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(size=st.integers(2, 6), network=networks(), seed=st.integers(0, 2**32))
def test_no_live_speaker_is_ever_judged_dead_under_loss_and_jitter(size, network, seed):
    sim = simulation(size, network, seed)
    sim.run_until(WARM_UP)
    everyone = frozenset(sim.names)
    while sim.now < WARM_UP + 3.0:
        sim.run_until(sim.now + 0.05)
        assert all(view == everyone for view in sim.views().values()), (sim.now, sim.views())


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(2, 6),
    network=networks(),
    seed=st.integers(0, 2**32),
    victim=st.integers(0, 5),
    at=st.floats(0, INTERVAL),
)
def test_after_a_kill_every_live_speaker_agrees_within_the_bound(size, network, seed, victim, at):
    sim = simulation(size, network, seed)
    sim.run_until(WARM_UP + at)
    killed = sim.names[victim % size]
    sim.kill(killed)
    killed_at = sim.now
    survivors = frozenset(sim.live())
    agreed_at = None
    while sim.now < killed_at + 3.0:
        sim.run_until(sim.now + STEP)
        views = sim.views()
        # Never a live speaker judged dead, before or after agreement.
        assert all(view >= survivors for view in views.values()), (sim.now, views)
        if agreed_at is None and all(view == survivors for view in views.values()):
            agreed_at = sim.now
        elif agreed_at is not None:
            assert all(view == survivors for view in views.values()), "flapped after agreeing"
    assert agreed_at is not None, "never agreed"
    assert agreed_at - killed_at <= detection_bound(network), (agreed_at - killed_at, network)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(3, 6), network=networks(), seed=st.integers(0, 2**32))
def test_a_speaker_cut_off_is_failed_over_by_the_others_and_cannot_fail_them_over(
    size, network, seed
):
    sim = simulation(size, network, seed)
    sim.run_until(WARM_UP)
    cut_off = sim.names[0]
    sim.isolate(cut_off)
    cut_at = sim.now
    sim.run_until(cut_at + detection_bound(network))
    rest = frozenset(sim.names) - {cut_off}
    views = sim.views()
    for name in rest:
        assert views[name] == rest, (name, views[name])
    # Alone it has no majority: without Leases it keeps everyone (its own share only
    # is announced twice, which the duplicate-address detector reports).
    assert views[cut_off] == frozenset(sim.names)
    reasons = sim.cores[cut_off].verdicts(sim.now)
    assert "no majority" in reasons[sim.names[1]].reason
    # Healed: one view again within a bound.
    sim.heal()
    sim.run_until(sim.now + detection_bound(network))
    assert set(sim.views().values()) == {frozenset(sim.names)}


def test_with_two_speakers_the_survivor_takes_over_alone():
    sim = simulation(2, Network(), 1)
    sim.run_until(WARM_UP)
    sim.kill("node1")
    sim.run_until(WARM_UP + TIMEOUT + 2 * INTERVAL)
    verdict = sim.cores["node0"].verdicts(sim.now)["node1"]
    assert not verdict.alive and "1 of 1 speakers" in verdict.reason


def test_a_fenced_speaker_judges_itself_out():
    sim = simulation(3, Network(), 1)
    sim.run_until(WARM_UP)
    sim.isolate("node0")
    sim.cores["node0"].own_lease_renewed = False  # the API is gone for it too
    sim.run_until(WARM_UP + TIMEOUT + 2 * INTERVAL)
    own = sim.cores["node0"].verdicts(sim.now)["node0"]
    assert not own.alive and "fenced: reaches 0 of 2 speakers" in own.reason
    # Reaching the others again, it is back even before its Lease renews.
    sim.heal()
    sim.run_until(sim.now + 2 * INTERVAL)
    assert sim.cores["node0"].verdicts(sim.now)["node0"].alive
