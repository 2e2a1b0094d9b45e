"""One way to reach the Kubernetes API, configured as client-go configures it.

Where the configuration comes from, first match wins (what kubectl and every
client-go program do, so a user's habits carry over):

1. ``--kubeconfig PATH``;
2. ``$KUBECONFIG`` (a list of files joined with ``:``, merged as kubectl merges them);
3. in-cluster (the ServiceAccount token and CA mounted into the Pod) when
   ``KUBERNETES_SERVICE_HOST`` is set;
4. ``~/.kube/config``.

``--context`` selects a context of the kubeconfig; ``--api-server`` replaces the
server address (``kubectl proxy``, or reaching a cluster through a tunnel) and,
alone, talks to that URL without credentials. A missing or broken configuration is
one ``LbError`` line naming where ironlb looked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..events.errors import LbError

# One watch per resource holds a connection for as long as it streams; writers,
# Leases and lists need their own beside them (urllib3's default pool is 10).
CONNECTION_POOL_SIZE = 32


def api_client(
    *, kubeconfig: str | None = None, context: str | None = None, api_server: str | None = None
) -> Any:
    """An official-client ApiClient, configured as the module docstring says."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    configuration = k8s.Configuration()
    configuration.connection_pool_maxsize = CONNECTION_POOL_SIZE
    source = _source(kubeconfig)
    if api_server and source is None and not context:
        configuration.host = api_server  # a proxy: no credentials needed
        return k8s.ApiClient(configuration)
    try:
        if source == "in-cluster":
            if context:
                raise LbError("--context needs a kubeconfig; in a cluster there is none")
            k8s_config.load_incluster_config(client_configuration=configuration)
        elif source is None:
            raise LbError(
                "no Kubernetes configuration: give --kubeconfig, set KUBECONFIG, run in a "
                "cluster, or create ~/.kube/config"
            )
        else:
            k8s_config.load_kube_config(
                config_file=source,
                context=context or _first_current_context(source),
                client_configuration=configuration,
            )
    except LbError:
        raise
    except Exception as exc:  # the loader raises ConfigException, OSError, YAML errors...
        where = "the in-cluster configuration" if source == "in-cluster" else source
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LbError(f"cannot configure the Kubernetes client from {where}: {reason}") from exc
    if api_server:
        configuration.host = api_server
    return k8s.ApiClient(configuration)


def _first_current_context(files: str) -> str | None:
    """kubectl's merge rule: the first file that sets current-context wins (the
    official client lets a later file win)."""
    import yaml

    if os.pathsep not in files:
        return None
    for path in files.split(os.pathsep):
        with open(path, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
        if isinstance(loaded, dict) and loaded.get("current-context"):
            return str(loaded["current-context"])
    return None


def _source(kubeconfig: str | None) -> str | None:
    """The kubeconfig file(s) to read, ``"in-cluster"``, or None when there is nothing."""
    if kubeconfig:
        path = Path(kubeconfig)
        if path.is_dir():
            raise LbError(f"--kubeconfig {kubeconfig}: a directory, not a kubeconfig file")
        if not path.is_file():
            raise LbError(f"--kubeconfig {kubeconfig}: no such file")
        return kubeconfig
    listed = os.environ.get("KUBECONFIG", "")
    if listed.strip(os.pathsep):
        existing = [p for p in listed.split(os.pathsep) if p and Path(p).is_file()]
        if not existing:
            raise LbError(f"KUBECONFIG={listed}: none of these files exists")
        return os.pathsep.join(existing)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "in-cluster"
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None
