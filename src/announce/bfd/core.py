"""One BFD session in asynchronous mode (RFC 5880), sans IO: time is passed in,
packets go in as bytes and come out as ``Transmit`` actions, so the state machine
is tested and fuzzed without sockets or clocks.

What it does, in RFC 5880's terms:
* the three-way handshake (Down -> Init -> Up) and the Down transitions of 6.8.6;
* transmission at max(DesiredMinTx, the peer's RequiredMinRx), less 0-25 % jitter
  (6.8.7); DesiredMinTx at least one second while the session is not Up (6.8.3),
  the configured one once it is, each change announced with a Poll Sequence;
* detection: Down with diagnostic "time expired" when no packet came for the peer's
  DetectMult x max(RequiredMinRx, the peer's DesiredMinTx) (6.8.4);
* a Poll answered at once with a Final, whatever the transmit timer says;
* the passive role (MetalLB's ``passiveMode``): silent until the peer speaks;
* the TTL rule of the session's kind: exactly 255 single hop (RFC 5881 section 5),
  at least ``minimum_ttl`` multihop (RFC 5883 section 5, FRR's ``minimum-ttl``).

Not done: demand mode and the echo function (ironlb advertises a RequiredMinEchoRx
of 0, so a peer never sends it echo packets; MetalLB's ``echoMode`` is reported as
not honoured), authentication (MetalLB configures none).
"""

from __future__ import annotations

import random

import attrs

from .packets import BfdPacketError, BfdState, ControlPacket, Diag

SLOW_TX = 1.0  # RFC 5880 6.8.3: at least one second while the session is not Up
SINGLE_HOP_TTL = 255


@attrs.frozen
class BfdConfig:
    """A session's parameters in seconds (MetalLB's BFDProfile is in milliseconds)."""

    desired_min_tx: float = 0.3
    required_min_rx: float = 0.3
    detect_mult: int = 3
    passive: bool = False
    multihop: bool = False
    minimum_ttl: int = 254  # multihop only


@attrs.frozen
class Transmit:
    data: bytes


@attrs.frozen
class BfdStateChanged:
    old: BfdState
    new: BfdState
    diag: Diag
    peer_admin_down: bool = False  # the peer went AdminDown: not a path failure

    @property
    def failed(self) -> bool:
        """An Up session lost: what tears its BGP session down. Neither our own
        AdminDown nor the peer's is a failure (RFC 5882 section 3.2)."""
        return self.old is BfdState.UP and self.new is BfdState.DOWN and not self.peer_admin_down


Action = Transmit | BfdStateChanged


def _seconds(microseconds: int) -> float:
    return microseconds / 1_000_000


def _micro(seconds: float) -> int:
    return round(seconds * 1_000_000)


class BfdSession:
    """One session with one peer. ``discriminator`` is ours (non-zero, unique on
    this system); ``rng`` draws the transmit jitter (seeded in tests)."""

    def __init__(
        self, config: BfdConfig, discriminator: int, rng: random.Random | None = None
    ) -> None:
        if not 0 < discriminator < 2**32:
            raise ValueError(f"discriminator {discriminator}: must be 1..2^32-1")
        self.config = config
        self.discriminator = discriminator
        self.rng = rng or random.Random()
        self.state = BfdState.DOWN
        self.diag = Diag.NONE
        self.remote_state = BfdState.DOWN
        self.remote_discriminator = 0
        self.remote_min_rx = 1e-6  # RFC 5880 6.8.1: 1 microsecond until the peer says
        self.remote_desired_tx = 0.0
        self.remote_detect_mult = 0
        self.advertised_tx = self._wanted_tx()
        self.polling = False  # a Poll Sequence is running: our packets carry P
        self.discarded: dict[str, int] = {}  # why -> count (the driver's debug metric)
        self.packets_in = self.packets_out = 0
        self.up_events = self.down_events = 0
        self._next_tx: float | None = None
        self._detect_at: float | None = None
        self._stopped = False

    # --- inputs ------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        if not self.config.passive:
            self._next_tx = now
        return self.poll(now)

    def stop(self) -> list[Action]:
        """AdminDown: one packet tells the peer, then silence (the driver closes)."""
        self._stopped = True
        actions = self._move(BfdState.ADMIN_DOWN, Diag.ADMIN_DOWN)
        self.polling = False
        self._next_tx = self._detect_at = None
        if self.remote_discriminator:
            actions.append(self._transmit())
        return actions

    def receive(self, now: float, data: bytes, ttl: int | None = None) -> list[Action]:
        """A datagram from the peer, ``ttl`` as received (None: not known)."""
        try:
            packet = ControlPacket.decode(data)
        except BfdPacketError as exc:
            return self._discard(str(exc))
        if ttl is not None and not self._ttl_acceptable(ttl):
            return self._discard(f"TTL {ttl}")
        if packet.your_discriminator not in (0, self.discriminator):
            return self._discard("not our discriminator")
        if self._stopped:
            return []
        self.packets_in += 1
        return self._packet(now, packet)

    def poll(self, now: float) -> list[Action]:
        """Timers: detection and transmission. Call at ``next_deadline()``."""
        actions: list[Action] = []
        if self._detect_at is not None and now >= self._detect_at:
            actions += self._detection_expired(now)
        if self._next_tx is not None and now >= self._next_tx:
            actions.append(self._transmit())
            self._schedule_tx(now)
        return actions

    def next_deadline(self) -> float | None:
        times = [t for t in (self._next_tx, self._detect_at) if t is not None]
        return min(times) if times else None

    @property
    def detection_time(self) -> float:
        """How long the peer may stay silent (RFC 5880 6.8.4, asynchronous mode)."""
        return self.remote_detect_mult * max(self.config.required_min_rx, self.remote_desired_tx)

    # --- the state machine ---------------------------------------------------------

    def _packet(self, now: float, packet: ControlPacket) -> list[Action]:
        self.remote_discriminator = packet.my_discriminator
        self.remote_state = packet.state
        self.remote_desired_tx = _seconds(packet.desired_min_tx)
        self.remote_detect_mult = packet.detect_mult
        old_rx, self.remote_min_rx = self.remote_min_rx, _seconds(packet.required_min_rx)
        old_tx = self.advertised_tx
        if packet.final and self.polling:
            self.polling = False
        actions: list[Action] = []
        if packet.state is BfdState.ADMIN_DOWN:
            if self.state is not BfdState.DOWN:
                actions += self._move(BfdState.DOWN, Diag.NEIGHBOR_DOWN, peer_admin_down=True)
        elif self.state is BfdState.DOWN:
            if packet.state is BfdState.DOWN:
                actions += self._move(BfdState.INIT, Diag.NONE)
            elif packet.state is BfdState.INIT:
                actions += self._move(BfdState.UP, Diag.NONE)
        elif self.state is BfdState.INIT:
            if packet.state in (BfdState.INIT, BfdState.UP):
                actions += self._move(BfdState.UP, Diag.NONE)
        elif packet.state is BfdState.DOWN:  # we are Up
            actions += self._move(BfdState.DOWN, Diag.NEIGHBOR_DOWN)
        self._detect_at = now + self.detection_time
        # Transmission starts (a passive session's first answer, or the peer lifted
        # a zero RequiredMinRx) or changes pace (6.8.3: a slower one at once).
        if self._next_tx is None or self.remote_min_rx != old_rx or old_tx != self.advertised_tx:
            self._schedule_tx(now)
        if packet.poll:  # answered at once, whatever the transmit timer (6.5)
            actions.append(self._transmit(final=True))
        return actions

    def _detection_expired(self, now: float) -> list[Action]:
        self._detect_at = None
        self.remote_discriminator = 0  # RFC 5880 6.8.1
        self.remote_state = BfdState.DOWN
        self.remote_min_rx, self.remote_desired_tx = 1e-6, 0.0
        actions: list[Action] = []
        if self.state in (BfdState.INIT, BfdState.UP):
            actions += self._move(BfdState.DOWN, Diag.TIME_EXPIRED)
        if self.config.passive:
            self._next_tx = None  # the peer is gone: silent again until it speaks
        return actions

    def _move(self, state: BfdState, diag: Diag, peer_admin_down: bool = False) -> list[Action]:
        if state is self.state:
            return []
        old, self.state, self.diag = self.state, state, diag
        if state is BfdState.UP:
            self.up_events += 1
        elif old is BfdState.UP:
            self.down_events += 1
        wanted = self._wanted_tx()
        if wanted != self.advertised_tx:
            self.advertised_tx = wanted
            self.polling = True  # 6.8.3: a changed interval is announced with a Poll
        return [BfdStateChanged(old, state, diag, peer_admin_down)]

    def _wanted_tx(self) -> float:
        if self.state is BfdState.UP:
            return self.config.desired_min_tx
        return max(SLOW_TX, self.config.desired_min_tx)

    # --- transmission --------------------------------------------------------------

    def _schedule_tx(self, now: float) -> None:
        if self.remote_min_rx == 0 or self._stopped:
            self._next_tx = None  # the peer asked for silence (6.8.7)
            return
        if self.config.passive and not self.remote_discriminator:
            self._next_tx = None
            return
        interval = max(self.advertised_tx, self.remote_min_rx)
        self._next_tx = now + interval * self.rng.uniform(0.75, 1.0)

    def _transmit(self, final: bool = False) -> Transmit:
        self.packets_out += 1
        packet = ControlPacket(
            state=self.state,
            detect_mult=self.config.detect_mult,
            my_discriminator=self.discriminator,
            your_discriminator=self.remote_discriminator,
            desired_min_tx=_micro(self.advertised_tx),
            required_min_rx=_micro(self.config.required_min_rx),
            diag=self.diag,
            poll=self.polling and not final,
            final=final,
        )
        return Transmit(packet.encode())

    def _ttl_acceptable(self, ttl: int) -> bool:
        if self.config.multihop:
            return ttl >= self.config.minimum_ttl
        return ttl == SINGLE_HOP_TTL

    def _discard(self, why: str) -> list[Action]:
        self.discarded[why] = self.discarded.get(why, 0) + 1
        return []
