"""The offline commands start without the libraries only the processes need: the
Kubernetes client, Redis, netlink, Prometheus, cryptography (`python -X importtime`
is how a user would look; benchmarks/startup_bench.py measures the time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ironlb.examples import example_path

HEAVY = ("kubernetes", "redis", "pyroute2", "prometheus_client", "cryptography", "urllib3")


def imported(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ironlb", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[-1].strip() for line in lines}


@pytest.mark.parametrize(
    "argv", [["--version"], ["plan"], ["validate", str(example_path())]], ids=" ".join
)
def test_offline_commands_import_no_process_library(argv):
    modules = imported(*argv)
    assert "ironlb.cli" in modules  # the measurement sees ironlb's own imports
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == []
