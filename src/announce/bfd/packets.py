"""BFD Control packets (RFC 5880 section 4.1), without authentication.

ironlb configures no BFD authentication (MetalLB's BFDProfile has none), so a
packet with the A bit is refused like any other malformed one: an error naming
the field, never an exception the driver does not expect.
"""

from __future__ import annotations

import enum
import struct

import attrs

from ...events.errors import LbError

VERSION = 1
LENGTH = 24  # the mandatory section; ironlb sends and accepts no auth section
_LAYOUT = struct.Struct("!BBBBIIIII")


class BfdState(enum.IntEnum):
    ADMIN_DOWN = 0
    DOWN = 1
    INIT = 2
    UP = 3

    def __str__(self) -> str:
        return {0: "AdminDown", 1: "Down", 2: "Init", 3: "Up"}[self.value]


class Diag(enum.IntEnum):
    """Why the sender's session last changed state (RFC 5880 section 4.1)."""

    NONE = 0
    TIME_EXPIRED = 1
    ECHO_FAILED = 2
    NEIGHBOR_DOWN = 3
    FORWARDING_RESET = 4
    PATH_DOWN = 5
    CONCATENATED_PATH_DOWN = 6
    ADMIN_DOWN = 7
    REVERSE_CONCATENATED_PATH_DOWN = 8

    def __str__(self) -> str:
        return self.name.lower().replace("_", " ")


class BfdPacketError(LbError):
    """A packet RFC 5880 section 6.8.6 says to discard: the message names why."""


@attrs.frozen
class ControlPacket:
    state: BfdState
    detect_mult: int
    my_discriminator: int
    your_discriminator: int
    desired_min_tx: int  # microseconds, as on the wire
    required_min_rx: int  # microseconds
    required_min_echo_rx: int = 0  # 0: this system loops back no echo packets
    diag: Diag = Diag.NONE
    poll: bool = False
    final: bool = False
    demand: bool = False

    def encode(self) -> bytes:
        flags = (self.state << 6) | (self.poll << 5) | (self.final << 4) | (self.demand << 1)
        return _LAYOUT.pack(
            (VERSION << 5) | self.diag,
            flags,
            self.detect_mult,
            LENGTH,
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        )

    @classmethod
    def decode(cls, data: bytes) -> ControlPacket:
        """The packet in ``data``, or BfdPacketError for one the RFC discards."""
        if len(data) < LENGTH:
            raise BfdPacketError(f"packet of {len(data)} bytes: a Control packet has {LENGTH}")
        (vers_diag, flags, mult, length, mine, yours, tx, rx, echo) = _LAYOUT.unpack_from(data)
        if vers_diag >> 5 != VERSION:
            raise BfdPacketError(f"version {vers_diag >> 5}: only version {VERSION} exists")
        if flags & 0x04:
            raise BfdPacketError("A bit set: ironlb configures no BFD authentication")
        if length < LENGTH or length > len(data):
            raise BfdPacketError(f"length field {length} for a packet of {len(data)} bytes")
        if mult == 0:
            raise BfdPacketError("detect multiplier 0")
        if flags & 0x01:
            raise BfdPacketError("M bit set: multipoint is reserved")
        if mine == 0:
            raise BfdPacketError("my discriminator 0")
        if flags & 0x30 == 0x30:
            raise BfdPacketError("P and F bits both set")
        state = BfdState(flags >> 6)
        if yours == 0 and state not in (BfdState.DOWN, BfdState.ADMIN_DOWN):
            raise BfdPacketError(f"your discriminator 0 in state {state}")
        diag = vers_diag & 0x1F
        return cls(
            state=state,
            detect_mult=mult,
            my_discriminator=mine,
            your_discriminator=yours,
            desired_min_tx=tx,
            required_min_rx=rx,
            required_min_echo_rx=echo,
            diag=Diag(diag) if diag in Diag._value2member_map_ else Diag.NONE,
            poll=bool(flags & 0x20),
            final=bool(flags & 0x10),
            demand=bool(flags & 0x02),
        )
