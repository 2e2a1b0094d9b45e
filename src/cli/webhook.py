"""``ironlb webhook``: the admission and conversion webhook process."""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from ..events.errors import LbError
from ._common import add_client_options, client_from

log = logging.getLogger("ironlb.webhook.admission")
CHECK_SECONDS = 3600.0  # certificates are looked at hourly; they are renewed a month early


def add_parsers(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "webhook",
        help="validate metallb.io objects at admission; convert BGPPeer versions",
        description="Serve the ValidatingWebhookConfiguration ironlb-webhook (/validate) and "
        "the BGPPeer conversion webhook (/convert) over HTTPS. By default the certificate is "
        "made, stored in a Secret and rotated by ironlb, and its CA written into the webhook "
        "configuration and the BGPPeer CRD; with --cert-manager the files cert-manager "
        "mounts in --cert-dir are served instead.",
    )
    add_client_options(p)
    p.add_argument("--namespace", default="metallb-system", metavar="NS")
    p.add_argument("--listen", default="0.0.0.0:9443", metavar="HOST:PORT")
    p.add_argument("--cert-dir", metavar="DIR", help="where tls.crt and tls.key are (or go)")
    p.add_argument("--cert-manager", action="store_true", help="serve --cert-dir as mounted")
    p.add_argument("--service", default="ironlb-webhook", help="the webhook's Service name")
    p.add_argument("--secret", default="ironlb-webhook-cert", help="the certificate's Secret")
    p.add_argument(
        "--secret-namespace",
        metavar="NS",
        help="where that Secret lives (default: --namespace); the manifests keep it apart, "
        "out of the speakers' reach",
    )
    p.add_argument("--webhook-configuration", default="ironlb-webhook", metavar="NAME")
    p.add_argument(
        "--url",
        metavar="URL",
        help="where the API server reaches this webhook when not through --service (a webhook "
        "outside the cluster): its host joins the certificate, and BGPPeer conversion is "
        "pointed at URL/convert",
    )
    p.set_defaults(handler=cmd_webhook)


def cmd_webhook(args: argparse.Namespace, out: TextIO) -> int:
    from ..app.loop import install_signal_handlers  # the process's modules, only to run it
    from ..app.metrics_server import parse_address
    from ..webhook.admission import AdmissionValidator, WebhookServer
    from ..webhook.cache import WatchedObjects
    from ..webhook.certs import CertificateManager

    client = client_from(args)
    if args.cert_manager and not args.cert_dir:
        raise LbError("--cert-manager needs --cert-dir, where cert-manager mounts the Secret")
    cert_dir = Path(args.cert_dir or tempfile.mkdtemp(prefix="ironlb-webhook-"))
    if args.cert_manager:
        missing = [n for n in ("tls.crt", "tls.key") if not (cert_dir / n).is_file()]
        if missing:
            raise LbError(
                f"--cert-manager: no {' or '.join(missing)} in {cert_dir}: is the "
                "cert-manager Certificate's Secret mounted there?"
            )
    manager = None
    if not args.cert_manager:
        manager = CertificateManager(
            client,
            namespace=args.namespace,
            service=args.service,
            secret=args.secret,
            secret_namespace=args.secret_namespace,
            webhook_configuration=args.webhook_configuration,
            url=args.url,
        )
        _write(cert_dir, manager.ensure())
    stop = threading.Event()
    install_signal_handlers(stop)
    validator = AdmissionValidator(args.namespace, WatchedObjects(client, args.namespace, stop))
    server = WebhookServer(
        parse_address(args.listen), str(cert_dir / "tls.crt"), str(cert_dir / "tls.key"), validator
    )
    log.info("serving on %s", args.listen)
    while not stop.wait(CHECK_SECONDS):
        if manager is not None:
            _write(cert_dir, manager.ensure())
        server.load(str(cert_dir / "tls.crt"), str(cert_dir / "tls.key"))
    server.close()
    return 0


def _write(directory: Path, certificates) -> None:
    (directory / "tls.crt").write_bytes(certificates.cert)
    key = directory / "tls.key"
    key.touch(mode=0o600)
    key.write_bytes(certificates.key)
