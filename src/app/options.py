"""Options and defaults of the long-running processes, kept apart from the processes
themselves: building the command line must not import the Kubernetes client,
Prometheus or netlink (``ironlb --version`` and ``plan`` start fast)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..events.errors import LbError

if TYPE_CHECKING:
    from .loop import SnapshotPolicy

DEFAULT_SNAPSHOT_INTERVAL = 300.0
DEFAULT_MAX_LOG_MB = 256
DEFAULT_STORE_ROOT = "/var/lib/ironlb"


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """The options of a long-running process's own log: snapshots and the disk cap."""
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=DEFAULT_SNAPSHOT_INTERVAL,
        metavar="SECONDS",
        help="snapshot the folds at most this often, after 1000 new records or more "
        f"(default {DEFAULT_SNAPSHOT_INTERVAL:g}); a restart replays only what follows",
    )
    parser.add_argument(
        "--max-log-mb",
        type=float,
        default=DEFAULT_MAX_LOG_MB,
        metavar="MB",
        help="above this size the log drops the history behind its newest snapshot "
        f"(default {DEFAULT_MAX_LOG_MB}; 0 keeps all history)",
    )


def snapshot_policy_from(args: argparse.Namespace) -> SnapshotPolicy:
    from .loop import SnapshotPolicy

    if args.snapshot_interval < 0 or args.max_log_mb < 0:
        raise LbError("--snapshot-interval and --max-log-mb must be zero or more")
    cap = int(args.max_log_mb * 2**20) if args.max_log_mb else None
    return SnapshotPolicy(args.snapshot_interval, max_log_bytes=cap)
