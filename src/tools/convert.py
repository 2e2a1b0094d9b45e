"""``ironlb convert``: MetalLB's legacy ConfigMap configuration (before v0.13: the
``config`` key of ConfigMap ``metallb-system/config``) as metallb.io objects.

The mapping follows MetalLB's own one-shot converter: one IPAddressPool per
address pool; a layer-2 pool gets an L2Advertisement naming it; a BGP pool gets
one BGPAdvertisement per ``bgp-advertisements`` entry (one with defaults when it
lists none); each peer becomes a BGPPeer (v1beta2), each BFD profile a BFDProfile,
and the ``bgp-communities`` aliases one Community object. Names are derived from
the pool or list position, so converting twice gives the same objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..events import yaml_loader
from ..events.errors import LbError

NS = "metallb-system"
GROUP = "metallb.io"

# legacy key -> BGPPeer spec key
PEER_FIELDS = {
    "my-asn": "myASN",
    "peer-asn": "peerASN",
    "peer-address": "peerAddress",
    "peer-port": "peerPort",
    "source-address": "sourceAddress",
    "hold-time": "holdTime",
    "keepalive-time": "keepaliveTime",
    "router-id": "routerID",
    "password": "password",
    "bfd-profile": "bfdProfile",
    "ebgp-multihop": "ebgpMultiHop",
    "vrf": "vrf",
}
BFD_FIELDS = {
    "receive-interval": "receiveInterval",
    "transmit-interval": "transmitInterval",
    "detect-multiplier": "detectMultiplier",
    "echo-interval": "echoInterval",
    "echo-mode": "echoMode",
    "passive-mode": "passiveMode",
    "minimum-ttl": "minimumTtl",
}
AD_FIELDS = {
    "aggregation-length": "aggregationLength",
    "aggregation-length-v6": "aggregationLengthV6",
    "localpref": "localPref",
    "communities": "communities",
}


def legacy_document(documents: list[Any], where: str) -> Any:
    """The one legacy configuration among the documents of a file: a ConfigMap with
    ``data.config`` (also inside a ``kind: List``, as ``kubectl get cm -o yaml``
    prints several), or the bare configuration itself."""
    found = []
    for document in documents:
        if isinstance(document, Mapping) and document.get("kind") == "List":
            found += [i for i in document.get("items") or [] if _is_legacy_configmap(i)]
        elif _is_legacy_configmap(document):
            found.append(document)
    if len(found) > 1:  # MetalLB reads the one named "config"
        found = [d for d in found if (d.get("metadata") or {}).get("name") == "config"] or found
    if len(found) == 1:
        return found[0]
    if found:
        names = sorted(str((d.get("metadata") or {}).get("name")) for d in found)
        raise LbError(f"{where}: {len(found)} ConfigMaps hold a data.config ({', '.join(names)})")
    plain = [d for d in documents if d is not None]
    if len(plain) == 1 and not (isinstance(plain[0], Mapping) and "kind" in plain[0]):
        return plain[0]  # the data.config YAML itself
    raise LbError(f"{where}: no legacy configuration (a ConfigMap with data.config, or its YAML)")


def _is_legacy_configmap(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and document.get("kind") == "ConfigMap"
        and isinstance(document.get("data"), Mapping)
        and "config" in document["data"]
    )


def legacy_config(document: Any) -> Mapping[str, Any]:
    """The legacy configuration from a ConfigMap object, or the configuration itself."""
    if isinstance(document, Mapping) and document.get("kind") == "ConfigMap":
        text = (document.get("data") or {}).get("config")
        if text is None:
            name = (document.get("metadata") or {}).get("name", "?")
            raise LbError(f"ConfigMap {name}: no data.config key (MetalLB's legacy configuration)")
        try:
            document = yaml_loader.load(text)
        except yaml.YAMLError as exc:
            raise LbError(f"ConfigMap data.config is not YAML: {exc}") from exc
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise LbError("the legacy configuration must be a mapping")
    unknown = set(document) - {"peers", "address-pools", "bgp-communities", "bfd-profiles"}
    if unknown:
        raise LbError(f"unknown top-level keys in the legacy configuration: {sorted(unknown)}")
    return document


def convert(config: Mapping[str, Any], namespace: str = NS) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []

    def add(kind: str, name: str, spec: dict[str, Any], version: str = "v1beta1") -> None:
        objects.append(
            {
                "apiVersion": f"{GROUP}/{version}",
                "kind": kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }
        )

    communities = config.get("bgp-communities") or {}
    if not isinstance(communities, Mapping):
        raise LbError("bgp-communities: must be a mapping of alias to value")
    if communities:
        entries = [{"name": str(k), "value": str(v)} for k, v in sorted(communities.items())]
        add("Community", "communities", {"communities": entries})

    for index, profile in enumerate(_list(config, "bfd-profiles")):
        where = f"bfd-profiles[{index}]"
        name = _required(profile, "name", where)
        add("BFDProfile", name, _fields(profile, BFD_FIELDS, where, skip={"name"}))

    for index, peer in enumerate(_list(config, "peers")):
        where = f"peers[{index}]"
        spec = _fields(peer, PEER_FIELDS, where, skip={"node-selectors"})
        for key in ("myASN", "peerAddress"):
            if key not in spec:
                raise LbError(f"{where}: {_legacy_name(key)} is required")
        selectors = peer.get("node-selectors")
        if selectors:
            spec["nodeSelectors"] = [_selector(s, f"{where}.node-selectors") for s in selectors]
        add("BGPPeer", f"peer{index + 1}", spec, "v1beta2")

    seen_pools = set()
    for index, pool in enumerate(_list(config, "address-pools")):
        where = f"address-pools[{index}]"
        name = _required(pool, "name", where)
        if name in seen_pools:
            raise LbError(f"{where}.name: pool {name!r} is defined twice")
        seen_pools.add(name)
        spec: dict[str, Any] = {"addresses": list(_required(pool, "addresses", where))}
        if "auto-assign" in pool:
            spec["autoAssign"] = bool(pool["auto-assign"])
        if "avoid-buggy-ips" in pool:
            spec["avoidBuggyIPs"] = bool(pool["avoid-buggy-ips"])
        add("IPAddressPool", name, spec)
        protocol = pool.get("protocol")
        if protocol == "layer2":
            add("L2Advertisement", name, {"ipAddressPools": [name]})
        elif protocol == "bgp":
            ads = pool.get("bgp-advertisements") or [{}]
            for number, ad in enumerate(ads, start=1):
                ad_where = f"{where}.bgp-advertisements[{number - 1}]"
                ad_spec = _fields(ad, AD_FIELDS, ad_where)
                ad_spec["ipAddressPools"] = [name]
                ad_name = name if len(ads) == 1 else f"{name}-{number}"
                add("BGPAdvertisement", ad_name, ad_spec)
        else:
            raise LbError(f"{where}.protocol: {protocol!r} is not layer2 or bgp")
    return objects


def render(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)


def _list(config: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = config.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise LbError(f"{key}: must be a list of mappings")
    return value


def _required(item: Mapping[str, Any], key: str, where: str) -> Any:
    if item.get(key) in (None, "", []):
        raise LbError(f"{where}: {key} is required")
    return item[key]


def _fields(
    item: Mapping[str, Any], names: Mapping[str, str], where: str, skip: set[str] = frozenset()
) -> dict[str, Any]:
    unknown = set(item) - set(names) - skip
    if unknown:
        raise LbError(f"{where}: unknown keys {sorted(unknown)}")
    return {names[k]: v for k, v in item.items() if k in names}


def _legacy_name(key: str) -> str:
    return next(k for k, v in PEER_FIELDS.items() if v == key)


def _selector(selector: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = set(selector) - {"match-labels", "match-expressions"}
    if unknown:
        raise LbError(f"{where}: unknown keys {sorted(unknown)}")
    converted: dict[str, Any] = {}
    if selector.get("match-labels"):
        converted["matchLabels"] = dict(selector["match-labels"])
    if selector.get("match-expressions"):
        converted["matchExpressions"] = [dict(e) for e in selector["match-expressions"]]
    return converted
