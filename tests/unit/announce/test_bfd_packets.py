"""BFD Control packets on the wire (RFC 5880 section 4.1) and the ones the RFC
discards (section 6.8.6): refused with the reason, never an unexpected exception."""

from __future__ import annotations

import pytest

from ironlb.announce.bfd.packets import BfdPacketError, BfdState, ControlPacket, Diag


def packet(**fields) -> ControlPacket:
    values = {
        "state": BfdState.UP,
        "detect_mult": 3,
        "my_discriminator": 7,
        "your_discriminator": 9,
        "desired_min_tx": 300_000,
        "required_min_rx": 300_000,
    }
    return ControlPacket(**{**values, **fields})


def test_a_control_packet_survives_the_wire():
    sent = packet(diag=Diag.TIME_EXPIRED, poll=True, required_min_echo_rx=50_000)
    data = sent.encode()
    assert len(data) == 24 and data[0] == 0x21  # version 1, diagnostic 1
    assert data[1] == 0xE0  # state Up (3 << 6), P bit
    assert ControlPacket.decode(data) == sent


def mangled(offset: int, value: int) -> bytes:
    data = bytearray(packet().encode())
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x20\xc0\x03", "packet of 3 bytes"),
        (mangled(0, 0x40), "version 2"),
        (mangled(1, 0xC4), "A bit set"),
        (mangled(1, 0xC1), "M bit set"),
        (mangled(1, 0xF0), "P and F bits both set"),
        (mangled(2, 0), "detect multiplier 0"),
        (mangled(3, 48), "length field 48"),
        (packet(my_discriminator=0).encode(), "my discriminator 0"),
        (packet(your_discriminator=0).encode(), "your discriminator 0 in state Up"),
    ],
)
def test_packets_the_rfc_discards_are_refused_with_why(data, why):
    with pytest.raises(BfdPacketError, match=why):
        ControlPacket.decode(data)


def test_a_down_packet_may_not_know_our_discriminator_yet():
    first = packet(state=BfdState.DOWN, your_discriminator=0)
    assert ControlPacket.decode(first.encode()) == first
