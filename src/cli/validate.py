"""``ironlb validate``: is a configuration what MetalLB and the API server accept."""

from __future__ import annotations

import argparse
from typing import TextIO

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
)
from .output import dump_json, use_colour
from .render import render_warnings


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "validate",
        help="check configuration objects with the rules ironlb applies",
        description="Exit 0 when the configuration is valid, 1 when not, 2 when an input "
        "cannot be read.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="the namespace ironlb reads its configuration from (default: metallb-system)",
    )
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from ..reconcile.controller.fold import ControllerFold, Overrides
    from ..reconcile.plan.controller import config_json
    from ..tools.inputs import stream_inputs
    from ..tools.planner import outside_namespace
    from ..tools.strict import MetallbObjects

    objects = MetallbObjects()
    fold = ControllerFold(Overrides(namespace=args.namespace))
    fold.apply_all(objects.passing(stream_inputs(args.inputs)))
    errors = list(fold.config_errors) + outside_namespace(objects.records, fold.namespace)
    errors = objects.with_schema_errors(errors)  # + what the API server refuses
    warnings = objects.located(fold.config_warnings)
    report = config_json(tuple(errors), tuple(warnings))
    if args.output == "json":
        dump_json(report, out)
        return EXIT_OK if report["valid"] else EXIT_FAILED
    if report["valid"]:
        out.write("configuration is valid" + (", with warnings:" if warnings else "") + "\n")
    else:
        for error in sorted(errors):
            out.write(f"{error}\n")
    render_warnings(report["warnings"], out, use_colour(out))
    return EXIT_OK if report["valid"] else EXIT_FAILED
