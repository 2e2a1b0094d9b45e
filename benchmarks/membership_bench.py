"""The speakers' heartbeat membership at 10, 100 and 1,000 speakers, simulated in one
process (the sans-IO core and the real codec, tests/heartbeat_sim.py): datagrams
and bytes each speaker sends per second, CPU per speaker (an upper bound: the
simulated network's own work is included), and the detection time after a kill
(until every live speaker's verdict says so).

    python benchmarks/membership_bench.py [--sizes 10 100 1000]

The reference is the configuration: the timeout (0.4 s at the default interval,
stretched beyond 200 speakers) is the floor any detection can reach.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests.heartbeat_sim import Network, Simulation


def measure(size: int, seconds: float) -> dict[str, float]:
    names = [f"node{i:04d}" for i in range(size)]
    sim = Simulation(names, Network(delay=0.0005, jitter=0.005, encode_on_wire=True),
                     random.Random(1), step=0.01)  # fmt: skip
    stretch = sim.cores[names[0]].stretch()
    warm_up = 3 * sim.cores[names[0]].effective_timeout()
    sim.run_until(warm_up)
    sent0, bytes0, cpu0 = sim.sent, sim.bytes, time.process_time()
    sim.run_until(warm_up + seconds)
    cpu = time.process_time() - cpu0
    per_speaker_rate = (sim.sent - sent0) / seconds / size
    per_speaker_bytes = (sim.bytes - bytes0) / seconds / size
    victim = names[size // 2]
    observers = names[:: max(1, size // 10)][:10]  # a sample judges, as all would
    observers = [n for n in observers if n != victim]
    sim.kill(victim)
    killed_at = sim.now
    while True:
        sim.run_until(sim.now + sim.step)
        if all(not sim.cores[o].verdicts(sim.now)[victim].alive for o in observers):
            break
        if sim.now - killed_at > 30:
            raise SystemExit(f"{size}: not detected in 30 s")
    return {
        "size": size,
        "stretch": stretch,
        "timeout": sim.cores[names[0]].effective_timeout(),
        "datagrams_per_s": per_speaker_rate,
        "bytes_per_s": per_speaker_bytes,
        "cpu_ms_per_s": 1000 * cpu / seconds / size,
        "detection_s": sim.now - killed_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    print(f"{'speakers':>8} {'timeout':>8} {'sent/s':>8} {'bytes/s':>9} "
          f"{'CPU ms/s':>9} {'detected':>9} {'/timeout':>9}")  # fmt: skip
    for size in args.sizes:
        seconds = 5.0 if size <= 100 else 1.0
        r = measure(size, seconds)
        print(f"{r['size']:>8} {r['timeout']:>7.2f}s {r['datagrams_per_s']:>8.0f} "
              f"{r['bytes_per_s']:>9.0f} {r['cpu_ms_per_s']:>9.2f} {r['detection_s']:>8.2f}s "
              f"{r['detection_s'] / r['timeout']:>8.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
