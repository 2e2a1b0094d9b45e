"""The webhook's TLS: a private CA and a serving certificate, made and rotated by
ironlb itself (no cert-manager needed), kept in a Secret so every replica serves
the same certificate, and the CA published where the API server reads it (the
ValidatingWebhookConfiguration's caBundle, the BGPPeer CRD's conversion webhook).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from ..announce.k8s.requests import api_request
from ..events.errors import LbError

log = logging.getLogger("ironlb.webhook.admission")
VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)  # rotate a month before expiry


@attrs.frozen
class CertificateSet:
    ca: bytes  # PEM
    cert: bytes  # PEM
    key: bytes  # PEM

    def expires(self) -> datetime.datetime:
        return x509.load_pem_x509_certificate(self.cert).not_valid_after_utc

    def names(self) -> list[str]:
        """The DNS names and IP addresses the certificate is for, in its order."""
        cert = x509.load_pem_x509_certificate(self.cert)
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [
            str(entry.value)
            for entry in extension.value
            if isinstance(entry, x509.DNSName | x509.IPAddress)
        ]


def _subject_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(dns_names: Sequence[str], now: datetime.datetime | None = None) -> CertificateSet:
    """A fresh CA and a serving certificate for ``dns_names`` (IP addresses among them
    become IP entries) signed by it."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ironlb-webhook-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_subject_name(n) for n in dns_names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertificateSet(
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def service_names(service: str, namespace: str, url: str | None = None) -> list[str]:
    """The names the API server may check: the Service's, and ``url``'s host if given."""
    names = [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", service]
    host = urlsplit(url).hostname if url else None
    if host and host not in names:
        names.append(host)
    return names


class CertificateManager:
    """Keeps the Secret, the caBundles and the served certificate in step."""

    def __init__(
        self,
        client: ApiClient,
        *,
        namespace: str,
        service: str = "ironlb-webhook",
        secret: str = "ironlb-webhook-cert",
        secret_namespace: str | None = None,
        webhook_configuration: str = "ironlb-webhook",
        conversion_crds: Sequence[str] = ("bgppeers.metallb.io",),
        url: str | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.service = service
        self.secret = secret
        # The key's Secret may live apart from the configuration namespace, whose
        # Secrets the speakers read (BGP passwords): see docs/installation.md.
        self.secret_namespace = secret_namespace or namespace
        self.webhook_configuration = webhook_configuration
        self.conversion_crds = list(conversion_crds)
        self.url = url.rstrip("/") if url else None  # reached by URL, not through the Service

    def ensure(self, now: datetime.datetime | None = None) -> CertificateSet:
        """The certificate to serve: the Secret's while it is valid for long enough and
        for our names, else a new one (written back; a concurrent writer wins and we
        take theirs). Then the CA is published."""
        now = now or datetime.datetime.now(datetime.UTC)
        names = service_names(self.service, self.namespace, self.url)
        path = f"/api/v1/namespaces/{self.secret_namespace}/secrets/{self.secret}"
        current, version = self._read_secret(path)
        if current is None or current.expires() - now < RENEW_BEFORE or current.names() != names:
            fresh = issue(names, now)
            log.info("issuing the webhook certificate (expires %s)", fresh.expires())
            current = self._write_secret(path, fresh, version) or fresh
        self._publish(current.ca)
        return current

    def _read_secret(self, path: str) -> tuple[CertificateSet | None, str | None]:
        try:
            secret = api_request(self.client, "GET", path)
        except ApiException as exc:
            if exc.status == 404:
                return None, None
            raise
        data = secret.get("data") or {}
        version = (secret.get("metadata") or {}).get("resourceVersion")
        try:
            found = CertificateSet(
                *(base64.b64decode(data[k]) for k in ("ca.crt", "tls.crt", "tls.key"))
            )
            found.expires()
        except (KeyError, ValueError):
            return None, version  # damaged: replaced
        return found, version

    def _write_secret(
        self, path: str, fresh: CertificateSet, version: str | None
    ) -> CertificateSet | None:
        data = {
            "ca.crt": base64.b64encode(fresh.ca).decode(),
            "tls.crt": base64.b64encode(fresh.cert).decode(),
            "tls.key": base64.b64encode(fresh.key).decode(),
        }
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": self.secret, "namespace": self.secret_namespace},
            "data": data,
        }
        try:
            if version is None:
                api_request(self.client, "POST", path.rsplit("/", 1)[0], body)
            else:
                body["metadata"]["resourceVersion"] = version
                api_request(self.client, "PUT", path, body)
        except ApiException as exc:
            if exc.status == 404:
                raise LbError(
                    f"cannot store the webhook certificate in Secret {self.secret}: namespace "
                    f"{self.secret_namespace} does not exist (--secret-namespace)"
                ) from None
            if exc.status != 409:
                raise
            return self._read_secret(path)[0]  # another replica wrote first: use theirs
        return None

    def _convert_at(self) -> dict[str, Any]:
        """Where the API server reaches the conversion: a merge patch, so the form
        not used is set to null (the manifests say ``service``; a URL replaces it)."""
        if self.url:
            return {"url": f"{self.url}/convert", "service": None}
        service = {"name": self.service, "namespace": self.namespace, "path": "/convert"}
        return {"service": service, "url": None}

    def _publish(self, ca: bytes) -> None:
        bundle = base64.b64encode(ca).decode()
        path = (
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
            f"{self.webhook_configuration}"
        )
        configuration = api_request(self.client, "GET", path)
        patch = [
            {"op": "replace" if "caBundle" in (w.get("clientConfig") or {}) else "add",
             "path": f"/webhooks/{i}/clientConfig/caBundle", "value": bundle}
            for i, w in enumerate(configuration.get("webhooks") or [])
        ]  # fmt: skip
        if patch:
            api_request(self.client, "PATCH", path, patch, "application/json-patch+json")
        for crd in self.conversion_crds:
            conversion = {
                "strategy": "Webhook",
                "webhook": {
                    "conversionReviewVersions": ["v1"],
                    "clientConfig": {"caBundle": bundle, **self._convert_at()},
                },
            }
            api_request(
                self.client,
                "PATCH",
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}",
                {"spec": {"conversion": conversion}},
                "application/merge-patch+json",
            )
