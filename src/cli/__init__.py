"""The ``ironlb`` command: argument parsing, dispatch, and one clear line per user error.

Exit codes: 0 success; 1 a check failed (e.g. ``validate`` found errors); 2 an input
could not be read or the command line is wrong; 130 interrupted. Errors ironlb
reports on purpose (``LbError``) print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from .. import __version__
from ..app.logs import configure_logging
from ..events.errors import LbError
from . import controller, convert, debug, log, plan, record, speaker, webhook
from ._common import EXIT_INPUT, EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ironlb",
        description="An event-sourced load balancer for bare-metal Kubernetes that reads "
        "MetalLB's configuration. Every input is an event in a log; a pure fold turns the "
        "log into IP assignments and announcement plans.",
    )
    parser.add_argument("--version", action="version", version=f"ironlb {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="diagnostics on stderr (default: warning)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="diagnostics as plain lines or as JSON lines for log collectors (default: text)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    plan.add_parsers(commands)
    log.add_parsers(commands)
    speaker.add_parsers(commands)
    controller.add_parsers(commands)
    record.add_parsers(commands)
    debug.add_parsers(commands)
    convert.add_parsers(commands)
    webhook.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        return int(args.handler(args, out))
    except LbError as exc:
        print(f"ironlb: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `ironlb log show | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
