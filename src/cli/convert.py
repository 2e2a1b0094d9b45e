"""``ironlb convert``: the command line of convert.py."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..events.errors import LbError
from ..reconcile.identity import DEFAULT_NAMESPACE as NS


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "convert",
        help="turn MetalLB's legacy ConfigMap configuration into metallb.io objects",
        description="Read MetalLB's pre-0.13 configuration (the ConfigMap, as `kubectl get "
        "configmap -n metallb-system config -o yaml` prints it, or its data.config YAML) and "
        "print the equivalent IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, "
        "BFDProfile and Community objects.",
    )
    p.add_argument("file", metavar="FILE", help="the ConfigMap or its config; - for stdin")
    p.add_argument("--namespace", metavar="NS", help=f"of the objects (the ConfigMap's, else {NS})")
    p.set_defaults(handler=cmd_convert)


def cmd_convert(args: argparse.Namespace, out: TextIO) -> int:
    import yaml

    from ..events import yaml_loader
    from ..tools.convert import convert, legacy_config, legacy_document, render

    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file) as fh:
                text = fh.read()
        documents = list(yaml_loader.load_all(text))
    except OSError as exc:
        raise LbError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise LbError(f"{args.file} is not YAML: {exc}") from exc
    except UnicodeDecodeError:
        raise LbError(f"{args.file} is not text") from None
    document = legacy_document(documents, args.file)
    warnings: list[str] = []
    out.write(render(convert(legacy_config(document), _namespace(document, args), warnings)))
    for warning in warnings:
        print(f"ironlb: warning: {warning}", file=sys.stderr)
    return 0


def _namespace(document: object, args: argparse.Namespace) -> str:
    """--namespace when given, else the ConfigMap's own (as MetalLB's converter does)."""
    if args.namespace is not None:
        return args.namespace
    if isinstance(document, dict) and document.get("kind") == "ConfigMap":
        found = (document.get("metadata") or {}).get("namespace")
        if isinstance(found, str) and found:
            return found
    return NS
