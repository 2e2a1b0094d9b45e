"""What the speakers read besides Services and configuration, as domain values.

Nodes (labels, the conditions MetalLB consults), EndpointSlices (which nodes can
serve a Service), speaker membership verdicts, node links, and MetalLB's
``metallb-excludel2`` interface exclusions. Like ``objects``, translation never
fails: what cannot be read becomes the most conservative value (no endpoint can
serve, no link is eligible) and the fold carries on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import yaml

from ...events.yaml_loader import load as load_yaml
from ..frozen import freeze

EXCLUDE_LB_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
EXCLUDE_L2_CONFIGMAP = "metallb-excludel2"
EXCLUDE_L2_KEY = "excludel2.yaml"
# MetalLB's shipped default (config/native/exclude-l2-config.yaml): interfaces that
# belong to container networking, never to the segment clients are on.
DEFAULT_EXCLUDED_INTERFACES = (
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^nodelocaldns.*",
    "^lxc.*",
)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@attrs.frozen
class NodeInfo:
    name: str
    labels: Mapping[str, str] = attrs.field(eq=False, converter=freeze)
    labels_key: tuple[tuple[str, str], ...]
    network_unavailable: bool  # the NetworkUnavailable condition is True
    excluded: bool  # carries the exclude-from-external-load-balancers label
    # Where its speaker's heartbeats go (status.addresses' first InternalIP); no
    # election depends on it.
    address: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_k8s(cls, name: str, obj: Mapping[str, Any]) -> NodeInfo:
        labels = {
            str(k): str(v) for k, v in _mapping(_mapping(obj.get("metadata")).get("labels")).items()
        }
        unavailable = any(
            _mapping(c).get("type") == "NetworkUnavailable" and _mapping(c).get("status") == "True"
            for c in _list(_mapping(obj.get("status")).get("conditions"))
        )
        internal = [
            str(a.get("address"))
            for a in map(_mapping, _list(_mapping(obj.get("status")).get("addresses")))
            if a.get("type") == "InternalIP" and a.get("address")
        ]
        return cls(
            name,
            labels,
            tuple(sorted(labels.items())),
            unavailable,
            EXCLUDE_LB_LABEL in labels,
            internal[0] if internal else None,
        )


@attrs.frozen
class SliceServing:
    """What one EndpointSlice says about where its Service can be served."""

    service: str | None  # "namespace/name" from kubernetes.io/service-name
    nodes: frozenset[str]  # nodes hosting an endpoint that can serve
    anywhere: bool  # some endpoint can serve (with or without a nodeName)

    @classmethod
    def from_k8s(cls, key: str, obj: Mapping[str, Any]) -> SliceServing:
        namespace = key.rpartition("/")[0]
        name = _mapping(_mapping(obj.get("metadata")).get("labels")).get(SERVICE_NAME_LABEL)
        service = f"{namespace}/{name}" if isinstance(name, str) and name else None
        nodes, anywhere = set(), False
        for endpoint in _list(obj.get("endpoints")):
            endpoint = _mapping(endpoint)
            if not _list(endpoint.get("addresses")) or not can_serve(endpoint):
                continue
            anywhere = True
            node = endpoint.get("nodeName")
            if isinstance(node, str) and node:
                nodes.add(node)
        return cls(service, frozenset(nodes), anywhere)


def can_serve(endpoint: Mapping[str, Any]) -> bool:
    """MetalLB's rule: ready unset or true, or serving (terminating but still serving)."""
    conditions = _mapping(endpoint.get("conditions"))
    ready = conditions.get("ready")
    return ready is None or ready is True or conditions.get("serving") is True


@attrs.frozen
class Link:
    """One network interface of a node, as the netlink source recorded it."""

    name: str
    index: int = 0
    mac: str = ""
    flags: frozenset[str] = frozenset()  # netlink IFF_* names without the prefix: UP, NOARP...
    master: str | None = None  # the bridge or VRF this interface is enslaved to
    addresses: tuple[str, ...] = ()  # "address/prefixlen"

    @classmethod
    def from_record(cls, raw: Any) -> Link | None:
        raw = _mapping(raw)
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            return None
        index = raw.get("index")
        master = raw.get("master")
        return cls(
            name,
            index if isinstance(index, int) and not isinstance(index, bool) else 0,
            str(raw.get("mac") or ""),
            frozenset(str(f) for f in _list(raw.get("flags"))),
            master if isinstance(master, str) and master else None,
            tuple(str(a) for a in _list(raw.get("addresses"))),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "mac": self.mac,
            "flags": sorted(self.flags),
            "master": self.master,
            "addresses": list(self.addresses),
        }

    @property
    def usable(self) -> bool:
        """MetalLB's rule: up, not enslaved to a bridge or VRF, ARP not disabled."""
        return "UP" in self.flags and self.master is None and "NOARP" not in self.flags

    @property
    def answers_arp(self) -> bool:
        return self.usable and "BROADCAST" in self.flags

    @property
    def answers_ndp(self) -> bool:
        return self.usable and any(a.lower().startswith("fe80:") for a in self.addresses)


def links_from_record(obj: Mapping[str, Any]) -> tuple[Link, ...]:
    """The links of a ``NodeLinks`` record, malformed entries dropped, in name order."""
    links = (Link.from_record(raw) for raw in _list(obj.get("links")))
    return tuple(sorted((link for link in links if link is not None), key=lambda k: k.name))


@attrs.frozen
class ExcludeRules:
    """Interface names MetalLB never announces on (``metallb-excludel2``)."""

    patterns: tuple[str, ...] = DEFAULT_EXCLUDED_INTERFACES
    error: str | None = None  # why the ConfigMap could not be used (the defaults apply)

    def excludes(self, interface: str) -> bool:
        return any(re.search(pattern, interface) for pattern in self.patterns)


def parse_exclude_rules(configmap: Mapping[str, Any] | None) -> ExcludeRules:
    """The ConfigMap's ``announcedInterfacesToExclude`` regexes, or MetalLB's defaults.

    The value is YAML, read with the loader every ironlb command uses (as
    Kubernetes reads YAML).
    """
    if configmap is None:
        return ExcludeRules()
    text = _mapping(configmap.get("data")).get(EXCLUDE_L2_KEY)
    if not isinstance(text, str):
        return ExcludeRules(error=f"data.{EXCLUDE_L2_KEY} is missing; MetalLB's defaults apply")
    patterns = _yaml_list(text, "announcedInterfacesToExclude")
    if patterns is None:
        return ExcludeRules(
            error=f"data.{EXCLUDE_L2_KEY}: announcedInterfacesToExclude must be a list of "
            "regular expressions; MetalLB's defaults apply"
        )
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            return ExcludeRules(
                error=f"data.{EXCLUDE_L2_KEY}: invalid regular expression {pattern!r}: {exc}; "
                "MetalLB's defaults apply"
            )
    return ExcludeRules(tuple(patterns))


def _yaml_list(text: str, key: str) -> tuple[str, ...] | None:
    """The list of strings under ``key`` in the YAML ``text``, read as MetalLB reads
    it (sigs.k8s.io/yaml: comments, quotes, flow or block lists; other keys
    ignored); None when the text or the value is not that."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError:
        return None
    if not isinstance(document, Mapping):
        return None
    if key not in document:
        return None
    value = document[key]
    if value is None:
        return ()  # the key with nothing under it: an empty list
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return tuple(value)


def eligible_interfaces(
    links: Sequence[Link], rules: ExcludeRules, *, version: int
) -> tuple[str, ...]:
    """Names of the links a responder for this address family would run on."""
    return tuple(
        link.name
        for link in links
        if not rules.excludes(link.name)
        and (link.answers_arp if version == 4 else link.answers_ndp)
    )
