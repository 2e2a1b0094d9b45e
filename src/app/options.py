"""Options and defaults of the long-running processes, kept apart from the processes
themselves: building the command line must not import the Kubernetes client,
Prometheus or netlink (``ironlb --version`` and ``plan`` start fast)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

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


MEMBERLIST_SECRETS = ("memberlist", "metallb-memberlist")  # MetalLB's manifests, its chart
MEMBERLIST_KEY_FIELD = "secretkey"


@attrs.frozen
class MembershipOptions:
    """How a speaker's heartbeats run (docs/speaker.md, "Membership")."""

    port: int = 7946  # 0: no heartbeats, Leases alone
    interval: float = 0.1
    timeout: float = 0.4
    bind: str = "::"
    key: bytes | None = None  # from --membership-key-file; None: the Secret, or none
    handover_timeout: float = 2.0


def add_membership_options(parser: argparse.ArgumentParser) -> None:
    defaults = MembershipOptions()
    group = parser.add_argument_group("membership (heartbeats between speakers)")
    group.add_argument(
        "--membership-port", type=int, default=defaults.port, metavar="PORT",
        help=f"UDP port of the heartbeats (default {defaults.port}, MetalLB's memberlist "
        "port); 0: no heartbeats, Leases alone judge the speakers (failover in ~3 s)",
    )  # fmt: skip
    group.add_argument(
        "--membership-interval", type=float, default=defaults.interval, metavar="SECONDS",
        help=f"send a heartbeat to every other speaker this often (default {defaults.interval})",
    )  # fmt: skip
    group.add_argument(
        "--membership-timeout", type=float, default=defaults.timeout, metavar="SECONDS",
        help="a speaker silent this long is failed over once a majority agrees "
        f"(default {defaults.timeout}; more than the interval)",
    )  # fmt: skip
    group.add_argument(
        "--membership-bind", default=defaults.bind, metavar="ADDRESS",
        help="listen for heartbeats on this address (default ::, every address)",
    )  # fmt: skip
    group.add_argument(
        "--membership-key-file", metavar="FILE",
        help="the key that authenticates heartbeats (in a cluster: MetalLB's memberlist "
        "Secret's secretkey, which the controller creates if missing; standalone: without "
        "this file heartbeats are unauthenticated)",
    )  # fmt: skip
    group.add_argument(
        "--handover-timeout", type=float, default=defaults.handover_timeout, metavar="SECONDS",
        help="stopping, keep answering until the other speakers took the addresses over, "
        f"at most this long (default {defaults.handover_timeout})",
    )  # fmt: skip


def membership_options_from(args: argparse.Namespace) -> MembershipOptions:
    if not 0 <= args.membership_port <= 65535:
        raise LbError(f"--membership-port {args.membership_port}: not a port (0 to 65535)")
    if args.membership_interval <= 0:
        raise LbError("--membership-interval must be more than 0")
    if args.membership_timeout <= args.membership_interval:
        raise LbError(
            f"--membership-timeout {args.membership_timeout:g} must exceed "
            f"--membership-interval {args.membership_interval:g}, or every beat races "
            "its own deadline"
        )
    if args.handover_timeout < 0:
        raise LbError("--handover-timeout must be zero or more")
    key = None
    if args.membership_key_file:
        try:
            key = Path(args.membership_key_file).read_bytes().strip()
        except OSError as exc:
            raise LbError(
                f"--membership-key-file {args.membership_key_file}: {exc.strerror or exc}"
            ) from None
        if not key:
            raise LbError(f"--membership-key-file {args.membership_key_file}: empty")
    return MembershipOptions(
        args.membership_port, args.membership_interval, args.membership_timeout,
        args.membership_bind, key, args.handover_timeout,
    )  # fmt: skip
