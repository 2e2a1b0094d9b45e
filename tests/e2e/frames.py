"""Raw frames from a client namespace, for the layer-2 end-to-end tests.

    python frames.py IFACE capture-announcement IP [MAC]
        # print the MAC of the first announcement of IP (from MAC, when given: an
        # earlier holder may still be repeating its own announcements)
    python frames.py IFACE flood COUNT IP  # COUNT malformed ARP/IPv6 frames, many naming
                                           # IP where the kernel's filter looks (so they
                                           # reach the parser)
    python frames.py IFACE ask COUNT IP    # COUNT well-formed ARP requests for IP
    python frames.py IFACE claim IP                   # announce IP as ours (a duplicate address)

Run inside the client's namespace (``ip netns exec``). ``capture`` prints "ready"
once its socket is bound, so the test triggers the change only after that.
"""

from __future__ import annotations

import random
import socket
import sys
from ipaddress import ip_address

from ironlb.announce.l2.packets import (
    ARP_REQUEST,
    BROADCAST,
    Arp,
    NeighborAdvertisement,
    arp_frame,
    gratuitous_arp,
    mac_text,
    parse_frame,
)

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h


def main() -> None:
    iface, command, argument = sys.argv[1], sys.argv[2], sys.argv[3]
    capture = command == "capture-announcement"
    wanted_mac = sys.argv[4].lower() if capture and len(sys.argv) > 4 else None
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    if capture:
        # Not our own frames: a flood this client sends would fill the socket's
        # buffer and the announcement looked for could be dropped (Linux >= 4.20).
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.bind((iface, ETH_P_ALL))
    mac = sock.getsockname()[4][:6]
    if command == "capture-announcement":
        wanted = ip_address(argument)
        sock.settimeout(60)
        print("ready", flush=True)
        while True:
            packet = parse_frame(sock.recv(65535))
            mac = None
            if isinstance(packet, Arp) and packet.gratuitous and packet.sender_ip == wanted:
                mac = mac_text(packet.sender_mac)
            announced = isinstance(packet, NeighborAdvertisement) and packet.target == wanted
            if announced and packet.override and not packet.solicited and packet.target_lla:
                mac = mac_text(packet.target_lla)
            if mac is not None and wanted_mac in (None, mac.lower()):
                print(mac, flush=True)
                return
    elif command == "flood":
        rng = random.Random(1)
        named = ip_address(sys.argv[4])
        for i in range(int(argument)):
            ethertype = b"\x08\x06" if i % 2 else b"\x86\xdd"
            body = bytearray(rng.randrange(256) for _ in range(rng.randrange(0, 90)))
            if ethertype == b"\x08\x06" and len(body) >= 28 and i % 3:
                body[24:28] = named.packed  # the ARP target address
            sock.send(BROADCAST + mac + ethertype + bytes(body))
        print("sent", flush=True)
    elif command == "ask":
        target = ip_address(sys.argv[4])
        source = ip_address("10.10.0.99")
        request = arp_frame(ARP_REQUEST, BROADCAST, mac, source, bytes(6), target)
        for _ in range(int(argument)):
            sock.send(request)
        print("sent", flush=True)
    elif command == "claim":
        for frame in gratuitous_arp(ip_address(argument), mac):
            sock.send(frame)
        print("sent", flush=True)


if __name__ == "__main__":
    main()
