"""``ironlb plan``: the reconciler's answer for files or logs, and what-if (``--with``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ._common import (
    EXIT_OK,
    add_fold_options,
    check_node,
    planner_from,
)
from .render import render_plan

if TYPE_CHECKING:
    from ..tools.strict import MetallbObjects


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "plan",
        help="fold inputs and print the plan: addresses, pools, configuration",
        description="Fold inputs (log URLs, manifest files, - for stdin; the bundled example "
        "cluster when none is given) and print the resulting plan.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="INPUT",
        help="fold this on top and show what would change (what-if); repeatable",
    )
    add_fold_options(p)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.set_defaults(handler=cmd_plan)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from ..tools.inputs import default_inputs, stream_inputs
    from ..tools.strict import MetallbObjects

    if not args.inputs:
        print(
            f"ironlb: no input given: showing the bundled example cluster ({default_inputs()[0]}); "
            "give a log or manifests to plan yours",
            file=sys.stderr,
        )
    objects = MetallbObjects()
    planner = planner_from(args)
    planner.apply_all(objects.passing(stream_inputs(args.inputs or default_inputs())))
    before = planner.to_json() if args.extra else None
    if args.extra:
        planner.apply_all(
            objects.passing(stream_inputs(args.extra, start_seq=objects.last_seq + 1))
        )
    check_node(args.node, planner.speakers.node_names(), "the inputs")
    after = with_schema_errors(planner.to_json(), objects)
    render_plan(after, args.output, out, before=before)
    return EXIT_OK


def with_schema_errors(plan: dict[str, Any], objects: MetallbObjects) -> dict[str, Any]:
    """The plan's ``config`` with what the API server would refuse in the inputs."""
    from ..reconcile.config import ConfigError
    from ..reconcile.plan.controller import config_json

    errors = objects.with_schema_errors(ConfigError(**e) for e in plan["config"]["errors"])
    warnings = objects.located(ConfigError(**w) for w in plan["config"].get("warnings", ()))
    return {**plan, "config": config_json(tuple(errors), tuple(warnings))}
