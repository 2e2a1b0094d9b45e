"""Two sans-IO BFD sessions joined by a simulated link: packets take ``delay``
seconds (or what ``delay()`` draws), and ``cut(sender, time)`` drops those it says
to. Time only moves to the
next deadline or arrival, so a run of minutes takes milliseconds."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from ironlb.announce.bfd.core import BfdConfig, BfdSession, BfdStateChanged, Transmit


class BfdWire:
    def __init__(
        self,
        a: BfdConfig,
        b: BfdConfig,
        *,
        delay: float | Callable[[], float] = 0.001,
        seed: int = 0,
        cut: Callable[[str, float], bool] = lambda sender, at: False,
        ttl: int = 255,
    ) -> None:
        rng = random.Random(seed)
        self.sessions = {
            "a": BfdSession(a, 1, random.Random(rng.random())),
            "b": BfdSession(b, 2, random.Random(rng.random())),
        }
        self.delay, self.cut, self.ttl = delay, cut, ttl
        self.now = 0.0
        self.in_flight: list[tuple[float, int, str, bytes]] = []  # (arrival, seq, to, data)
        self.seq = itertools.count()
        self.changes: list[tuple[float, str, BfdStateChanged]] = []
        self.sent: dict[str, list[float]] = {"a": [], "b": []}
        self.packets: dict[str, list[bytes]] = {"a": [], "b": []}

    @property
    def a(self) -> BfdSession:
        return self.sessions["a"]

    @property
    def b(self) -> BfdSession:
        return self.sessions["b"]

    def start(self, *names: str) -> None:
        for name in names or ("a", "b"):
            self._perform(name, self.sessions[name].start(self.now))

    def run_until(self, end: float) -> None:
        while True:
            times = [s.next_deadline() for s in self.sessions.values()]
            times = [t for t in times if t is not None]
            if self.in_flight:
                times.append(self.in_flight[0][0])
            if not times or min(times) > end:
                self.now = end
                return
            self.now = min(times)
            while self.in_flight and self.in_flight[0][0] <= self.now:
                _, _, to, data = heapq.heappop(self.in_flight)
                self._perform(to, self.sessions[to].receive(self.now, data, self.ttl))
            for name, session in self.sessions.items():
                deadline = session.next_deadline()
                if deadline is not None and deadline <= self.now:
                    self._perform(name, session.poll(self.now))

    def deliver(self, to: str, data: bytes, ttl: int | None = 255) -> None:
        self._perform(to, self.sessions[to].receive(self.now, data, ttl))

    def _perform(self, name: str, actions: list) -> None:
        other = "b" if name == "a" else "a"
        for action in actions:
            if isinstance(action, Transmit):
                self.sent[name].append(self.now)
                self.packets[name].append(action.data)
                if not self.cut(name, self.now):
                    delay = self.delay() if callable(self.delay) else self.delay
                    arrival = self.now + delay
                    heapq.heappush(self.in_flight, (arrival, next(self.seq), other, action.data))
            else:
                self.changes.append((self.now, name, action))

    def downs(self, name: str) -> list[float]:
        return [t for t, who, c in self.changes if who == name and c.failed]
