"""Start-up time of the offline commands, against the imports they cannot avoid.

    python benchmarks/startup_bench.py [--runs 20]

Runs ``ironlb --version``, ``ironlb plan`` (the bundled example) and ``ironlb
validate`` side by side with ``python -c "import yaml, msgpack, attrs"`` (the
reference: what any ironlb command must import anyway) and prints the medians and
the ratios. The target: ``--version`` within 2x of the reference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from ironlb.examples import example_path


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    python = sys.executable
    reference = median_seconds([python, "-c", "import yaml, msgpack, attrs"], args.runs)
    print(f"reference (import yaml, msgpack, attrs): {reference * 1000:.0f} ms")
    for name, command in (
        ("ironlb --version", ["--version"]),
        ("ironlb plan", ["plan"]),
        ("ironlb validate", ["validate", str(example_path())]),
    ):
        seconds = median_seconds([python, "-m", "ironlb", *command], args.runs)
        print(f"{name}: {seconds * 1000:.0f} ms ({seconds / reference:.2f}x the reference)")


if __name__ == "__main__":
    main()
