"""The ``ironlb`` command: argument parsing, dispatch, and one clear line per user error.

Exit codes: 0 success; 1 a check failed (e.g. ``validate`` found errors); 2 an input
could not be read or the command line is wrong; 130 interrupted. Errors ironlb
reports on purpose (``LbError``) print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn, TextIO

from .. import __version__
from ..app.logs import configure_logging
from ..events.errors import LbError
from . import (
    controller,
    convert,
    diff,
    explain,
    log,
    plan,
    record,
    replay,
    speaker,
    validate,
    webhook,
)
from ._common import EXIT_FAILED, EXIT_INPUT, EXIT_OK, one_line

logger = logging.getLogger("ironlb")


class Parser(argparse.ArgumentParser):
    """argparse, its error line kept to one line whatever the user typed."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    validate.add_parsers(commands)
    replay.add_parsers(commands)
    log.add_parsers(commands)
    speaker.add_parsers(commands)
    controller.add_parsers(commands)
    record.add_parsers(commands)
    diff.add_parsers(commands)
    explain.add_parsers(commands)
    convert.add_parsers(commands)
    webhook.add_parsers(commands)
    return parser


# Commands that read their input, answer and exit (the processes run for months).
OFFLINE_COMMANDS = frozenset({"plan", "validate", "replay", "diff", "explain", "log", "convert"})


@contextlib.contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """Python's cycle collector off while an offline command runs.

    Folding a log keeps every object it has seen, and the collector walks all of
    them again and again as they accumulate: 2.3 s of a 6 s fold of 100,000
    records (benchmarks/tools_bench.py). The folds make no garbage cycles worth
    collecting (peak memory is the same without the collector), reference counting
    frees the rest, and the command exits when done; the collector is back on
    afterwards for callers that run several commands in one process (the tests).
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        with collector_paused(args.command in OFFLINE_COMMANDS):
            return int(args.handler(args, out))
    except LbError as exc:
        print(f"ironlb: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `ironlb log show | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:
        # The machine refused (a path, a permission, a socket): the user's to fix.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"ironlb: error: {one_line(f'{exc.strerror or exc}{where}')}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:
        if _from_api_client(exc):
            print(f"ironlb: error: the Kubernetes API: {_api_reason(exc)}", file=sys.stderr)
            return EXIT_INPUT
        # A bug in ironlb: one line, the traceback only when asked for.
        logger.debug("internal error", exc_info=True)
        print(
            f"ironlb: internal error: {type(exc).__name__}: {exc} (run with --log-level "
            "debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _from_api_client(exc: BaseException) -> bool:
    """An error of the Kubernetes client or its transport (checked by module, so the
    client is not imported by commands that never talk to a cluster)."""
    return type(exc).__module__.split(".")[0] in ("urllib3", "kubernetes")


def _api_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError keeps the cause here
    if reason is not None and not isinstance(reason, str):
        return f"cannot connect ({reason})".replace("\n", " ")
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status} {reason or ''}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
