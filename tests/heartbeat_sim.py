"""Many speakers' heartbeat cores in one process, on a simulated network: time
steps, per-link loss, delay with jitter (so beats arrive reordered), kills and
partitions. Used by the property tests and benchmarks/membership_bench.py."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

import attrs

from ironlb.events.sources.heartbeat_codec import Beat, decode, encode
from ironlb.events.sources.heartbeat_core import HeartbeatMembership

KEY = b"simulated"


@attrs.define
class Network:
    loss: float = 0.0  # probability a datagram is lost
    max_consecutive_losses: int = 2  # per link: then one gets through
    delay: float = 0.001
    jitter: float = 0.0  # extra delay, uniform in [0, jitter]
    encode_on_wire: bool = False  # through the codec, as a real datagram (slower)


class Simulation:
    def __init__(
        self,
        nodes: Iterable[str],
        network: Network,
        rng: random.Random,
        *,
        interval: float = 0.1,
        timeout: float = 0.4,
        step: float = 0.01,
        uses_leases: bool = False,
    ) -> None:
        self.names = sorted(nodes)
        self.network = network
        self.rng = rng
        self.step = step
        self.now = 0.0
        self.cores = {
            name: HeartbeatMembership(
                name, incarnation=1, started_at=0.0, interval=interval, timeout=timeout,
                uses_leases=uses_leases,
            )
            for name in self.names
        }  # fmt: skip
        addresses = {name: f"10.0.0.{i}" for i, name in enumerate(self.names)}
        for core in self.cores.values():
            core.set_addresses(addresses)
            core.ready = True
        self.dead: set[str] = set()
        self.cut: set[frozenset[str]] = set()  # links that drop everything
        self._in_flight: list[tuple[float, int, str, object]] = []
        self._order = 0
        self._lost_in_a_row: dict[tuple[str, str], int] = {}
        self.sent = 0
        self.bytes = 0

    def kill(self, name: str) -> None:
        self.dead.add(name)

    def isolate(self, name: str) -> None:
        self.cut |= {frozenset((name, other)) for other in self.names if other != name}

    def heal(self) -> None:
        self.cut.clear()

    def live(self) -> list[str]:
        return [n for n in self.names if n not in self.dead]

    def run_until(self, until: float) -> None:
        while self.now + self.step <= until + 1e-9:
            self.now = round(self.now + self.step, 9)
            self._tick()

    def views(self) -> dict[str, frozenset[str]]:
        """Each live speaker's set of speakers judged alive."""
        return {
            name: frozenset(n for n, v in self.cores[name].verdicts(self.now).items() if v.alive)
            for name in self.live()
        }

    def _tick(self) -> None:
        while self._in_flight and self._in_flight[0][0] <= self.now:
            _, _, to, payload = heapq.heappop(self._in_flight)
            if to in self.dead:
                continue
            beat = decode(payload, (KEY,)) if isinstance(payload, bytes) else payload
            assert isinstance(beat, Beat)
            self.cores[to].receive(beat, self.now, self.now)
        for name in self.live():
            core = self.cores[name]
            if core.next_beat_at > self.now:
                continue
            beat = core.beat(self.now, self.now)
            payload: object = encode(beat, KEY) if self.network.encode_on_wire else beat
            for to in core.addresses:
                self.sent += 1
                if self.network.encode_on_wire:
                    assert isinstance(payload, bytes)
                    self.bytes += len(payload) + 28  # IPv4 + UDP headers
                if frozenset((name, to)) in self.cut or self._lost(name, to):
                    continue
                arrival = self.now + self.network.delay + self.rng.uniform(0, self.network.jitter)
                self._order += 1
                heapq.heappush(self._in_flight, (arrival, self._order, to, payload))

    def _lost(self, sender: str, to: str) -> bool:
        link = (sender, to)
        streak = self._lost_in_a_row.get(link, 0)
        lost = streak < self.network.max_consecutive_losses and (
            self.network.loss > 0 and self.rng.random() < self.network.loss
        )
        self._lost_in_a_row[link] = streak + 1 if lost else 0
        return lost
