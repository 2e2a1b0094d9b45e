"""A numbered UDP flow, for counting what a handover loses.

    python udp_flow.py send IP PORT RATE   # datagrams "1", "2", ... at RATE per second
    python udp_flow.py receive PORT        # every number received, as one line at the end

Both run until SIGTERM; ``send`` prints "ready" once its socket is open and, at the
end, how many it sent; ``receive`` prints "ready" and, at the end, the numbers.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import time


def main() -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    command = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if command == "send":
        target = (sys.argv[2], int(sys.argv[3]))
        period = 1.0 / float(sys.argv[4])
        print("ready", flush=True)
        sent = 0
        next_at = time.monotonic()
        while not stopping:
            sent += 1
            with contextlib.suppress(OSError):  # no neighbour for a moment: counted lost
                sock.sendto(str(sent).encode(), target)
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
        print(f"sent {sent}", flush=True)
    elif command == "receive":
        sock.bind(("0.0.0.0", int(sys.argv[2])))
        sock.settimeout(0.1)
        print("ready", flush=True)
        received = []
        while not stopping:
            try:
                received.append(int(sock.recv(64)))
            except (TimeoutError, ValueError, InterruptedError):
                continue
        print(" ".join(map(str, received)), flush=True)


if __name__ == "__main__":
    main()
