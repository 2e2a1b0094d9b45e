"""Classic BPF programs that let only frames about our addresses reach Python.

An ARP flood for addresses this node does not announce (a scan, a broadcast storm,
a neighbour's churn) would otherwise wake the responder thread for every frame and
take the CPU the heartbeats need. The kernel runs these programs on each frame
before queueing it to the packet socket, so Python sees only:

* ARP whose target or sender protocol address is one of ours: requests to answer,
  and gratuitous ARP, replies and probes that the duplicate-address detector needs;
* ICMPv6 neighbor solicitations and advertisements whose target is one of ours
  (questions, duplicate-address probes, and other hosts claiming our addresses).

Offsets count from the Ethernet header, as a packet socket's filter sees frames.
Jumps in classic BPF are 8-bit, so compares come in chunks of 255 that share one
accept. A program is bounded (``MAX_INSTRUCTIONS``: about 500 IPv4 or 1,000 IPv6
addresses on one node); past that, or when the kernel refuses it, the filter widens
to every ARP frame (or every NS/NA), which is what the responder handled before it
had filters: correct, only slower under a flood.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address

Instruction = tuple[int, int, int, int]  # code, jt, jf, k

SO_ATTACH_FILTER = 26
# The kernel takes up to 4096 instructions, but charges the translated program
# against net.core.optmem_max (20 KiB on older kernels): this many stays within it.
MAX_INSTRUCTIONS = 1024
ACCEPT = 0x40000  # bytes of the frame to keep: all of it
# Opcodes: ld/ldh/ldb absolute, jeq immediate, ret immediate.
LD_W, LD_B = 0x20, 0x30
JEQ = 0x15
RET = 0x06

ARP_SENDER_IP = 14 + 14
ARP_TARGET_IP = 14 + 24
IPV6_NEXT_HEADER = 14 + 6
ICMPV6_TYPE = 14 + 40
ND_TARGET = 14 + 40 + 8
ICMPV6 = 58
NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT = 135, 136

ALL_ARP: list[Instruction] = [(RET, 0, 0, ACCEPT)]


def _accept_if_any(values: Iterable[int]) -> list[Instruction]:
    """Accept when the accumulator equals one of ``values``, else fall through.
    Chunks of at most 255 compares share one accept (jump offsets are 8-bit)."""
    ordered = sorted(set(values))
    program: list[Instruction] = []
    for start in range(0, len(ordered), 255):
        chunk = ordered[start : start + 255]
        last = len(chunk) - 1
        for index, value in enumerate(chunk):
            if index < last:
                program.append((JEQ, last - index, 0, value))  # to the accept
            else:
                program.append((JEQ, 0, 1, value))  # the accept, or past it
        program.append((RET, 0, 0, ACCEPT))
    return program


def arp_filter(addresses: Iterable[IPv4Address]) -> list[Instruction]:
    """ARP frames naming one of ``addresses`` as target or sender (the socket is
    bound to the ARP ethertype, so nothing else reaches the program)."""
    values = [int(a) for a in addresses]
    program: list[Instruction] = []
    for offset in (ARP_TARGET_IP, ARP_SENDER_IP):
        program += [(LD_W, 0, 0, offset), *_accept_if_any(values)]
    program.append((RET, 0, 0, 0))
    return program if len(program) <= MAX_INSTRUCTIONS else ALL_ARP


def _neighbor_discovery_only() -> list[Instruction]:
    return [
        (LD_B, 0, 0, IPV6_NEXT_HEADER),
        (JEQ, 1, 0, ICMPV6),
        (RET, 0, 0, 0),
        (LD_B, 0, 0, ICMPV6_TYPE),
        (JEQ, 2, 0, NEIGHBOR_SOLICITATION),
        (JEQ, 1, 0, NEIGHBOR_ADVERTISEMENT),
        (RET, 0, 0, 0),
    ]


ALL_NDP: list[Instruction] = [*_neighbor_discovery_only(), (RET, 0, 0, ACCEPT)]


def ndp_filter(addresses: Iterable[IPv6Address]) -> list[Instruction]:
    """Neighbor solicitations and advertisements whose target ends in the last 32
    bits of one of ``addresses`` (IPv6 frames whose next header is ICMPv6: NDP
    carries no extension headers). A superset of "about our addresses", the core
    checks exactly; one compare per address keeps the program small."""
    low_words = [int(a) & 0xFFFFFFFF for a in addresses]
    program = [
        *_neighbor_discovery_only(),
        (LD_W, 0, 0, ND_TARGET + 12),
        *_accept_if_any(low_words),
        (RET, 0, 0, 0),
    ]
    return program if len(program) <= MAX_INSTRUCTIONS else ALL_NDP


def attach(sock: socket.socket, program: list[Instruction]) -> None:
    """SO_ATTACH_FILTER (struct sock_fprog); attaching again replaces the program
    atomically, frames already queued stay queued."""
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
