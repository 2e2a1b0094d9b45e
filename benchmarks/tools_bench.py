"""The offline tools on big inputs, each against a reference measured in the same run.

    python benchmarks/tools_bench.py [--dir /tmp/ironlb-big] [--runs 1] [--only NAME,...]

Inputs (made once by benchmarks/big_inputs.py, kept in --dir): a log of 100,000
events (20,000 Services, 50 nodes, a controller's plan digest every 2,000 records)
and a ``kubectl get -o yaml`` List of 40,000 objects (~16 MB).

References, as issue 17 sets them: for the log, ``ironlb log show LOG -o json``
(reading and printing every record is the floor a tool that reads the whole log
cannot go under by much); for the List, ``ironlb log import LIST``. Each tool's
time is reported as a ratio to its reference (target: 3x at most) with its peak
RSS (target: under 400 MB), and the bare folds over the log (both folds, every
record applied, no plan) for comparison.
Every command runs as its own process; peak RSS is the child's ru_maxrss.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_RATIO = 3.0
TARGET_RSS_MB = 400

BARE_FOLD = """
import gc, sys
gc.disable()  # as the offline commands run
from ironlb.reconcile.controller.fold import ControllerFold
from ironlb.reconcile.speaker.fold import SpeakerFold
from ironlb.store import open_store
controller, speakers = ControllerFold(), SpeakerFold()
with open_store(sys.argv[1], readonly=True) as store:
    for record in store.read():
        controller.apply(record)
        speakers.apply(record)
"""

# A what-if: one pool narrowed, one Service's pool changed (plan --with).
WHAT_IF = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-3, namespace: metallb-system, labels: {mode: bgp}}
spec: {addresses: [10.64.48.0/23]}
"""


def run(argv: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of one child process."""
    started = time.perf_counter()
    with open(os.devnull, "w") as sink, tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(argv, stdout=sink, stderr=errors, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{' '.join(argv)}: exit {code}: {err.strip()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024, code


def best(argv: list[str], runs: int) -> tuple[float, float]:
    results = [run(argv) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def ensure_inputs(directory: str) -> tuple[str, str]:
    log, listing = os.path.join(directory, "log"), os.path.join(directory, "list.yaml")
    os.makedirs(directory, exist_ok=True)
    maker = [sys.executable, os.path.join(HERE, "big_inputs.py")]
    if not os.path.exists(log):
        subprocess.run([*maker, "log", log], check=True)
    if not os.path.exists(listing):
        subprocess.run([*maker, "list", listing], check=True)
    return log, listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ironlb-big"))
    parser.add_argument("--runs", type=int, default=1, help="best of N per command")
    parser.add_argument("--only", default="", help="comma-separated names to run")
    args = parser.parse_args()
    log, listing = ensure_inputs(args.dir)
    what_if = os.path.join(args.dir, "what-if.yaml")
    with open(what_if, "w") as f:
        f.write(WHAT_IF)
    ironlb = [sys.executable, "-m", "ironlb"]
    scratch = tempfile.mkdtemp(prefix="ironlb-bench-")
    half = "50000"
    log_cases = {
        "replay": [*ironlb, "replay", log, "-o", "json"],
        "replay --verify": [*ironlb, "replay", log, "--verify"],
        "explain": [*ironlb, "explain", log, "team-07/svc-012347", "-o", "json"],
        "diff": [*ironlb, "diff", log, "--from", half, "-o", "json"],
        "plan --with": [*ironlb, "plan", log, "--with", what_if, "-o", "json"],
        "bare fold": [sys.executable, "-c", BARE_FOLD, log],
    }
    list_cases = {
        "plan LIST": [*ironlb, "plan", listing, "-o", "json"],
        "validate LIST": [*ironlb, "validate", listing],
    }
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    try:
        print(f"log: {log}; List: {listing} ({os.path.getsize(listing) / 1e6:.1f} MB)")
        reference, rss = best([*ironlb, "log", "show", log, "-o", "json"], args.runs)
        print(f"{'log show -o json (reference)':32} {reference:7.2f} s  {rss:6.0f} MB")
        report(log_cases, only, reference, args.runs)
        imported = os.path.join(scratch, "imported")
        started = time.perf_counter()
        _t, rss, _c = run([*ironlb, "log", "import", listing, "--to", imported])
        reference = time.perf_counter() - started
        print(f"{'log import LIST (reference)':32} {reference:7.2f} s  {rss:6.0f} MB")
        report(list_cases, only, reference, args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(cases: dict[str, list[str]], only: set[str], reference: float, runs: int) -> None:
    for name, argv in cases.items():
        if only and name not in only:
            continue
        seconds, rss = best(argv, runs)
        ratio = seconds / reference
        verdict = "ok" if ratio <= TARGET_RATIO and rss < TARGET_RSS_MB else "OVER"
        if name == "bare fold":
            verdict = ""
        print(f"{name:32} {seconds:7.2f} s  {rss:6.0f} MB  {ratio:5.2f}x  {verdict}")


if __name__ == "__main__":
    main()
