"""A real Kubernetes control plane for tests: etcd, kube-apiserver and
kube-controller-manager on loopback ports, as envtest runs them.

The binaries come from ``scripts/kube-binaries`` (built from Kubernetes' Go modules
and cached; the test skips with its reason where that cannot run, e.g. no Go).
The API server runs with RBAC, service-account signing keys (TokenRequest works),
admission webhooks and CRD conversion webhooks as in any cluster; the controller
manager runs namespace deletion, garbage collection and the service-account
controller. No kubelet runs, so no Pod ever starts: tests write EndpointSlices
themselves.

Set-up uses an admin client certificate (``system:masters``); every ironlb process
gets a kubeconfig with a token of the ServiceAccount deploy/ gives it, so deploy/'s
RBAC is what is enforced.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NAMESPACE = "metallb-system"
START_DEADLINE = 120.0  # a cold kube-apiserver on 2 busy cores takes 10-20 s
DEADLINE = 60.0
SERVICE_CIDRS = "10.96.0.0/16,fd00:96::/112"


class KubeUnavailable(Exception):
    """The control plane cannot run here (no binaries, no Go): tests skip with this."""


def kube_binaries() -> Path:
    """The directory of the built programs; builds them the first time (minutes)."""
    given = os.environ.get("IRONLB_KUBE_BINARIES")
    if given:
        return Path(given)
    script = ROOT / "scripts" / "kube-binaries"
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeUnavailable(f"scripts/kube-binaries could not run: {exc}") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KubeUnavailable(f"scripts/kube-binaries failed: {reason}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- certificates ------------------------------------------------------------------


def _name(common: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Authority:
    """A CA for the test cluster: serving and client certificates."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("ironlb-test-ca"))
            .issuer_name(_name("ironlb-test-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self, common: str, org: str | None = None, *, server: str | None = None
    ) -> tuple[bytes, bytes]:
        """A client certificate, or with ``server`` (an IP address) a serving one."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common, org))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            import ipaddress

            names = [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                *([x509.IPAddress(ipaddress.ip_address(server))] if server != "127.0.0.1" else []),
                x509.DNSName("kubernetes.default.svc"),
            ]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usage = x509.ExtendedKeyUsageOID.SERVER_AUTH
        else:
            usage = x509.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


# --- the control plane ----------------------------------------------------------------


class KubeCluster:
    """etcd + kube-apiserver + kube-controller-manager in a temporary directory."""

    def __init__(
        self,
        binaries: Path | None = None,
        *,
        host: str = "127.0.0.1",
        watch_cache: bool = True,
        extra: Iterable[str] = (),
    ) -> None:
        """``host``: the address kube-apiserver listens on (a LAN's, for processes in
        network namespaces); etcd and the controller manager stay on loopback."""
        self.bin = binaries or kube_binaries()
        self.dir = Path(tempfile.mkdtemp(prefix="ironlb-kube-"))
        self.watch_cache = watch_cache
        self.extra = list(extra)
        self.processes: dict[str, subprocess.Popen] = {}
        self.etcd_port, self.peer_port, self.port = free_port(), free_port(), free_port()
        self.host = host
        self.url = f"https://{host}:{self.port}"
        self.ca = Authority()
        self._write_credentials()
        try:
            self.start_etcd()
            self.start_apiserver()
            self.start_controller_manager()
        except BaseException:
            self.stop()
            raise

    # --- files ------------------------------------------------------------------------

    def _write(self, name: str, data: bytes | str) -> Path:
        path = self.dir / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        path.chmod(0o600)
        return path

    def _write_credentials(self) -> None:
        self.ca_file = self._write("ca.crt", self.ca.pem)
        cert, key = self.ca.issue("kube-apiserver", server=self.host)
        self.serving = (self._write("apiserver.crt", cert), self._write("apiserver.key", key))
        cert, key = self.ca.issue("ironlb-test-admin", "system:masters")
        self.admin_cert = (self._write("admin.crt", cert), self._write("admin.key", key))
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sa_key = self._write("sa.key", _pem_key(sa_key))
        self.sa_pub = self._write(
            "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        self.admin_kubeconfig = self.kubeconfig(
            "admin",
            {
                "client-certificate": str(self.admin_cert[0]),
                "client-key": str(self.admin_cert[1]),
            },
        )

    def kubeconfig(self, name: str, user: dict[str, str]) -> Path:
        """A kubeconfig for this cluster with ``user`` (a token or client certificate)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": "test", "user": name}}],
            "current-context": name,
        }
        return self._write(f"{name}.kubeconfig", yaml.safe_dump(config))

    # --- processes ----------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [str(self.bin / name), *args], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def log(self, name: str, tail: int = 4000) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def start_etcd(self) -> None:
        self._spawn(
            "etcd",
            [
                "--data-dir",
                str(self.dir / "etcd"),
                "--listen-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{self.peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{self.peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        self._wait_ready("etcd", f"http://127.0.0.1:{self.etcd_port}/health")

    def start_apiserver(self) -> None:
        args = [
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--bind-address={self.host}",
            f"--secure-port={self.port}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={self.serving[0]}",
            f"--tls-private-key-file={self.serving[1]}",
            f"--client-ca-file={self.ca_file}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={self.sa_pub}",
            f"--service-account-signing-key-file={self.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDRS}",
            "--enable-admission-plugins=NamespaceLifecycle,ValidatingAdmissionWebhook,"
            "MutatingAdmissionWebhook,ValidatingAdmissionPolicy",
            "--disable-admission-plugins=ServiceAccount",
            f"--cert-dir={self.dir / 'certs'}",
            f"--watch-cache={'true' if self.watch_cache else 'false'}",
            "--v=1",
            *self.extra,
        ]
        self._spawn("kube-apiserver", args)
        self._wait_ready("kube-apiserver", f"{self.url}/readyz")

    def start_controller_manager(self) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.admin_kubeconfig}",
                "--controllers=namespace-controller,garbage-collector-controller,"
                "serviceaccount-controller",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
        )

    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.admin_cert[0]), str(self.admin_cert[1]))
        return context

    def _wait_ready(self, name: str, url: str) -> None:
        deadline = time.monotonic() + START_DEADLINE
        context = self._ssl() if url.startswith("https") else None
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)  # polling a readiness endpoint: there is nothing to wait on
        raise RuntimeError(f"{name} not ready within {START_DEADLINE} s:\n{self.log(name)}")

    def stop_process(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart_apiserver(self) -> None:
        """Kill and start kube-apiserver (a graceful stop waits a minute for watches)."""
        self.stop_process("kube-apiserver", signal.SIGKILL)
        self.start_apiserver()

    def stop(self) -> None:
        # The end of a test: nothing to drain. Killed, not stopped: a graceful
        # kube-apiserver waits up to a minute for the watches of a speaker that was
        # itself killed (half the teardowns of the layer-2 cluster tests took 60 s).
        for name in ("kube-controller-manager", "kube-apiserver"):
            self.stop_process(name, signal.SIGKILL)
        self.stop_process("etcd")
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- using it ---------------------------------------------------------------------

    def client(self, kubeconfig: Path | None = None) -> Any:
        """An official-client ApiClient (admin unless another kubeconfig is given)."""
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(
            str(kubeconfig or self.admin_kubeconfig), client_configuration=configuration
        )
        return client.ApiClient(configuration)

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(self.bin / "kubectl"), f"--kubeconfig={self.admin_kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout if check else done.stdout + done.stderr

    def apply(self, documents: Iterable[dict]) -> None:
        body = yaml.safe_dump_all(list(documents))
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=body)

    def etcdctl(self, *args: str) -> str:
        """etcdctl against this cluster's etcd; what it printed."""
        done = subprocess.run(
            [str(self.bin / "etcdctl"), f"--endpoints=http://127.0.0.1:{self.etcd_port}", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def get(self, *args: str) -> Any:
        """``kubectl get ARGS -o json`` parsed; None when the object is not found."""
        done = subprocess.run(
            [
                str(self.bin / "kubectl"),
                f"--kubeconfig={self.admin_kubeconfig}",
                "get",
                *args,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            if "NotFound" in done.stderr:
                return None
            raise AssertionError(f"kubectl get {' '.join(args)} failed:\n{done.stderr}")
        return json.loads(done.stdout)

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
        """Poll ``predicate`` until it returns something true; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)  # the condition is in the API server; polling is the wait
        raise AssertionError(f"not within {timeout} s: {what}")

    # --- ironlb's place in it ---------------------------------------------------------

    def install_ironlb_access(self, overlay: str = "base") -> None:
        """The CRDs, namespace, ServiceAccounts and RBAC of deploy/ (nothing that runs)."""
        rendered = self.kubectl("kustomize", str(DEPLOY / overlay))
        wanted = {
            "Namespace",
            "CustomResourceDefinition",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
        }
        documents = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in wanted]
        self.apply(documents)
        for crd in (d for d in documents if d["kind"] == "CustomResourceDefinition"):
            self.kubectl(
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                f"crd/{crd['metadata']['name']}",
            )

    def service_account_kubeconfig(self, account: str, namespace: str = NAMESPACE) -> Path:
        """A kubeconfig holding a bound token of ``account`` (TokenRequest)."""
        token = self.kubectl("create", "token", account, "-n", namespace, "--duration=2h").strip()
        return self.kubeconfig(f"{namespace}-{account}", {"token": token})
