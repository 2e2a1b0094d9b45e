"""What several commands share: exit codes, the fold options and the way to reach
the Kubernetes API; command modules import this, never each other."""

from __future__ import annotations

import argparse
import datetime
import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..events.errors import LbError

if TYPE_CHECKING:  # imported where used: building the command line stays fast
    from ..reconcile.controller.fold import Overrides
    from ..reconcile.speaker.fold import SpeakerOverrides
    from ..tools.planner import Planner

# 0 success; 1 a check failed (validate found errors, replay --verify a mismatch);
# 2 an input could not be read or the command line is wrong.
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def add_fold_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--node",
        metavar="NAME",
        help="limit the l2 and bgp sections to what this node announces",
    )
    p.add_argument(
        "--speakers",
        metavar="NODE,...",
        help="the nodes that run a live speaker (default: membership records in the "
        "input, else every Node)",
    )
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        default=None,
        help="let nodes labelled node.kubernetes.io/exclude-from-external-load-balancers "
        "announce (default: as recorded)",
    )
    p.add_argument(
        "--lb-class",
        metavar="CLASS",
        help="serve Services of this loadBalancerClass (default: as recorded; "
        "Services without a class)",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="read configuration from this namespace (default: as recorded, else metallb-system)",
    )


def overrides_from(args: argparse.Namespace) -> Overrides:
    from ..reconcile.controller.fold import Overrides

    if args.lb_class is not None:
        return Overrides(namespace=args.namespace, load_balancer_class=args.lb_class or None)
    return Overrides(namespace=args.namespace)


def speaker_overrides_from(args: argparse.Namespace) -> SpeakerOverrides:
    from ..reconcile.speaker.fold import SpeakerOverrides

    speakers = None
    if args.speakers is not None:
        speakers = frozenset(n.strip() for n in args.speakers.split(",") if n.strip())
    extra: dict[str, Any] = {}
    if args.lb_class is not None:
        extra["load_balancer_class"] = args.lb_class or None
    return SpeakerOverrides(
        namespace=args.namespace,
        ignore_exclude_lb=args.ignore_exclude_lb,
        speakers=speakers,
        **extra,
    )


def planner_from(args: argparse.Namespace) -> Planner:
    from ..tools.planner import Planner

    return Planner(overrides_from(args), speaker_overrides_from(args), node=args.node)


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, in-cluster, then ~/.kube/config)",
    )
    parser.add_argument("--context", metavar="NAME", help="the kubeconfig context to use")
    parser.add_argument(
        "--api-server", metavar="URL", help="the API server's URL (overrides the kubeconfig's)"
    )


def client_from(args: argparse.Namespace) -> Any:
    """An ApiClient from the options ``add_client_options`` added."""
    from ..app.kube_client import api_client

    return api_client(kubeconfig=args.kubeconfig, context=args.context, api_server=args.api_server)


def plural(count: int, noun: str) -> str:
    """``noun`` as a count of it reads: 1 event, 2 events."""
    return noun if count == 1 else f"{noun}s"


class NotFound(LbError):
    """What the user asked about is not there: a failed check (exit 1), not bad input."""

    exit_code = 1


def check_node(node: str | None, known: Sequence[str], where: str) -> None:
    """``--node`` must name a Node of the inputs: a typo would show an empty plan."""
    if node is None or node in known:
        return
    close = difflib.get_close_matches(node, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (nodes: {', '.join(known) or 'none'})"
    raise NotFound(f"no node {node} in {where}{hint}")


def check_from(start: int | None, last: int) -> None:
    """``--from`` past the end of the log is a mistake, not an empty answer."""
    if start is not None and start > last:
        raise LbError(f"--from {start} is past the end of the log (its last seq is {last})")


def one_line(text: str) -> str:
    """An error as one line: control characters (a newline in a file name, say)
    shown escaped, so the line says all and nothing can forge another."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def point(text: str) -> str:
    """argparse's type for a point of a log: a seq, an RFC 3339 time
    (2026-11-30T21:30:00Z), or a duration (10m, 1h30m) before the log's newest record."""
    if text.isdigit() or _time_of(text) is not None or _duration_of(text) is not None:
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither a seq, an RFC 3339 time (2026-11-30T21:30:00Z) nor a "
        "duration (10m, 1h30m)"
    )


def seq_at(text: str | None, timeline: Callable[[], Sequence[tuple[int, float]]]) -> int | None:
    """The seq a point names: a seq as it is; a time, the last record before the first
    one observed after it (the log as it stood then); a duration, that long before
    the newest record's time (an incident an hour ago is ``--since 1h``, whenever the
    log is read). ``timeline`` gives (seq, observed time) of every record: asked
    for only when the point is a time, as it costs a pass over the log."""
    if text is None or text.isdigit():
        return None if text is None else int(text)
    when = _time_of(text)
    points = timeline()
    if when is None:
        newest = max((at for _seq, at in points), default=0.0)
        when = newest - (_duration_of(text) or 0.0)
    seq = points[0][0] - 1 if points else 0
    for point_seq, at in points:
        if at > when:
            break
        seq = point_seq
    return seq


def _time_of(text: str) -> float | None:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _duration_of(text: str) -> float | None:
    from ..reconcile.config.primitives import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        return None
