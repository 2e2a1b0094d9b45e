"""``ironlb speaker``: run the speaker for one node (standalone mode: ``--events URL``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from ..app.options import (
    DEFAULT_STORE_ROOT,
    add_log_options,
    add_membership_options,
    membership_options_from,
    snapshot_policy_from,
)
from ..events.errors import LbError
from ..events.sources.membership import DEFAULT_LEASE_DURATION, DEFAULT_RENEW_INTERVAL
from ..store import same_log
from ._common import add_client_options, client_from


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "speaker",
        help="decide and announce what one node announces",
        description="Run the speaker for NODE. In standalone mode (--events) the cluster's "
        "events come from another log instead of the Kubernetes API; the node's links come "
        "from netlink. Every input is appended to the speaker's own log (--store) first. "
        "The node's plan is printed as a JSON line whenever it changes.",
    )
    p.add_argument("--node", required=True, metavar="NAME", help="the node this speaker runs on")
    p.add_argument(
        "--events",
        metavar="URL",
        help="standalone mode: follow this log for cluster events (a file store `ironlb log "
        "import` writes to, or a controller's log) instead of watching the API",
    )
    add_client_options(p)
    p.add_argument(
        "--lease-interval",
        type=float,
        default=DEFAULT_RENEW_INTERVAL,
        metavar="SECONDS",
        help="renew this node's membership Lease this often (1); API load is nodes/interval",
    )
    p.add_argument(
        "--lease-duration",
        type=float,
        default=DEFAULT_LEASE_DURATION,
        metavar="SECONDS",
        help="a speaker not renewing for this long is judged dead (2.5; docs/speaker.md)",
    )
    p.add_argument(
        "--store",
        metavar="URL",
        help=f"the speaker's own log (default: {DEFAULT_STORE_ROOT}/speaker-NODE)",
    )
    p.add_argument("--namespace", metavar="NS", help="configuration namespace (metallb-system)")
    p.add_argument("--lb-class", metavar="CLASS", help="serve Services of this loadBalancerClass")
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="announce from nodes labelled exclude-from-external-load-balancers too",
    )
    p.add_argument(
        "--assign-addresses",
        action="store_true",
        help="plan Service addresses as the controller would, for events without a "
        "controller writing statuses (hosts fed plain manifests)",
    )
    p.add_argument(
        "--no-links", action="store_true", help="do not record the node's links from netlink"
    )
    p.add_argument(
        "--links-netns",
        metavar="NAME",
        help="record the links of this network namespace instead of the process's own",
    )
    p.add_argument(
        "--digest-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="append a plan digest at most this often when the plan changed (default 10)",
    )
    p.add_argument(
        "--no-layer2",
        action="store_true",
        help="do not answer ARP/NDP (the plan is still computed, recorded and printed)",
    )
    p.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics, unauthenticated: for "
        "loopback; off by default",
    )
    p.add_argument(
        "--secure-metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics over HTTPS, to those Kubernetes allows get on /metrics (in a "
        "cluster; MetalLB's port is 9120); off by default",
    )
    p.add_argument(
        "--no-bgp",
        action="store_true",
        help="do not hold BGP sessions (the plan is still computed, recorded and printed)",
    )
    p.add_argument(
        "--bgp-password-dir",
        metavar="DIR",
        help="standalone (--events): a BGPPeer's inline password is read from DIR/<peer "
        "name>, since logs hold only hashes of passwords",
    )
    p.add_argument("--quiet", action="store_true", help="do not print plans")
    add_membership_options(p)
    add_log_options(p)
    p.set_defaults(handler=cmd_speaker)


def cmd_speaker(args: argparse.Namespace, out: TextIO) -> int:
    client = None
    if not args.events:
        try:
            client = client_from(args)
        except LbError as exc:
            raise LbError(f"{exc} (or run standalone with --events URL)") from exc
    if args.links_netns and not args.no_layer2:
        raise LbError(
            "--links-netns records another namespace's links, but the layer-2 responder "
            "answers in its own: run the speaker inside that namespace (ip netns exec) "
            "or add --no-layer2"
        )
    membership = membership_options_from(args)
    store = args.store or f"{DEFAULT_STORE_ROOT}/speaker-{args.node}"
    if args.events and same_log(args.events, store):
        raise LbError(
            f"--events {args.events} is this speaker's own log (--store): it would copy "
            "its own records forever; follow the controller's or record's log instead"
        )
    if args.bgp_password_dir is not None:
        if not args.events:
            raise LbError(
                "--bgp-password-dir is for a standalone speaker (--events); in a cluster "
                "passwords come from the watched BGPPeers and Secrets"
            )
        if not Path(args.bgp_password_dir).is_dir():
            raise LbError(f"--bgp-password-dir {args.bgp_password_dir}: not a directory")
    from ..app.loop import install_signal_handlers  # the process's modules, only to run it
    from ..app.speaker import SpeakerRuntime

    runtime = SpeakerRuntime(
        args.node,
        events_url=args.events,
        client=client,
        lease_interval=args.lease_interval,
        lease_duration=args.lease_duration,
        store_url=store,
        bgp_password_dir=args.bgp_password_dir,
        namespace=args.namespace,
        lb_class=args.lb_class,
        ignore_exclude_lb=args.ignore_exclude_lb,
        assign_addresses=args.assign_addresses,
        links=not args.no_links,
        links_netns=args.links_netns,
        digest_interval=args.digest_interval,
        plans_out=None if args.quiet else out,
        layer2=not args.no_layer2,
        bgp=not args.no_bgp,
        metrics_address=args.metrics_address,
        secure_metrics_address=args.secure_metrics_address,
        snapshots=snapshot_policy_from(args),
        membership=membership,
    )
    install_signal_handlers(runtime.stop, on_stop=runtime.begin_leaving)
    runtime.run()
    return 0
