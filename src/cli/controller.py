"""``ironlb controller``: assign addresses to LoadBalancer Services in a cluster."""

from __future__ import annotations

import argparse
from typing import TextIO

from ..app.options import add_log_options, snapshot_policy_from
from ..events.errors import LbError
from ._common import add_client_options, client_from

DEFAULT_STORE = "/var/lib/ironlb/controller"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "controller",
        help="assign addresses to LoadBalancer Services (in a cluster)",
        description="Watch the cluster, record every event in the log, fold it and write "
        "Service statuses and Events. Replicas elect a leader over a Lease; only the "
        "leader writes.",
    )
    add_client_options(p)
    p.add_argument("--store", metavar="URL", default=DEFAULT_STORE, help="the controller's log")
    p.add_argument("--namespace", default="metallb-system", metavar="NS")
    p.add_argument("--lb-class", metavar="CLASS", help="serve Services of this class")
    p.add_argument("--lease-interval", type=float, default=2.0, metavar="SECONDS")
    p.add_argument("--lease-duration", type=float, default=15.0, metavar="SECONDS")
    p.add_argument("--qps", type=float, default=20.0, help="API writes per second (20)")
    p.add_argument("--burst", type=int, default=30, help="API write burst (30)")
    p.add_argument("--digest-interval", type=float, default=30.0, metavar="SECONDS")
    p.add_argument(
        "--metrics-address", metavar="HOST:PORT", help="serve /metrics over plain HTTP (off)"
    )
    p.add_argument(
        "--secure-metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics over HTTPS, to those Kubernetes allows get on /metrics (off; "
        "MetalLB's port is 9120)",
    )
    add_log_options(p)
    p.set_defaults(handler=cmd_controller)


def cmd_controller(args: argparse.Namespace, out: TextIO) -> int:
    from ..app.controller import ControllerRuntime  # the process's modules, only to run it
    from ..app.loop import install_signal_handlers

    if args.lease_duration <= args.lease_interval:
        raise LbError("--lease-duration must exceed --lease-interval")
    runtime = ControllerRuntime(
        client_from(args),
        store_url=args.store,
        namespace=args.namespace,
        lb_class=args.lb_class,
        lease_interval=args.lease_interval,
        lease_duration=args.lease_duration,
        qps=args.qps,
        burst=args.burst,
        digest_interval=args.digest_interval,
        metrics_address=args.metrics_address,
        secure_metrics_address=args.secure_metrics_address,
        snapshots=snapshot_policy_from(args),
    )
    install_signal_handlers(runtime.stop)
    runtime.run()
    return 0
