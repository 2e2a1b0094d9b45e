"""``ironlb convert``: MetalLB's legacy ConfigMap configuration (before v0.13: the
``config`` key of ConfigMap ``metallb-system/config``) as metallb.io objects.

The result is what MetalLB's own one-shot converter (``configmaptocrs``) makes of
the same input, checked against its test data and expected outputs
(tests/unit/tools/test_convert_as_metallb.py): one IPAddressPool per address pool;
``l2advertisementN`` for each ``protocol: layer2`` pool; ``bgpadvertisementN`` for
each ``bgp-advertisements`` entry (one with defaults for a BGP pool that lists none),
numbered across pools; ``peerN`` BGPPeers (v1beta2) with the hold time written out
(90s when unset) and times as Go prints them; BFDProfiles with both modes written;
one Community object of every alias. Names the API server would refuse are made
valid as MetalLB does it (lower case, ``_`` as ``-``, what precedes the first letter
dropped, 63 characters at most), and references follow the renamed objects.

Where MetalLB's converter is wrong, ironlb differs, and says so:
* a pool whose protocol is neither layer2 nor bgp (``l2``) is converted without
  any advertisement, as MetalLB's converter does, but with a warning: it would
  announce nothing;
* ``bgp-advertisements`` under a layer-2 pool are an error (MetalLB's converter
  announces such a pool over BGP, which its legacy configuration never did);
* characters other than ``_`` that a name may not hold are replaced by ``-``, and
  two pools or profiles that end up with one name are an error naming both;
* an empty ``passwordSecret: {}`` is not written on every peer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from ..events import yaml_loader
from ..events.errors import LbError
from ..reconcile.config.primitives import parse_duration

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


def convert(
    config: Mapping[str, Any], namespace: str = NS, warnings: list[str] | None = None
) -> list[dict[str, Any]]:
    """The objects, in MetalLB's order (peers, pools, BGP and L2 advertisements,
    BFD profiles, communities); what deserves a word goes into ``warnings``."""
    notes = warnings if warnings is not None else []
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

    profiles = _names(_list(config, "bfd-profiles"), "bfd-profiles", "BFDProfile", notes)
    pools = _names(_list(config, "address-pools"), "address-pools", "IPAddressPool", notes)
    for index, peer in enumerate(_list(config, "peers")):
        add("BGPPeer", f"peer{index + 1}", _peer_spec(peer, f"peers[{index}]", notes), "v1beta2")
    for (index, pool), name in zip(enumerate(_list(config, "address-pools")), pools, strict=True):
        add("IPAddressPool", name, _pool_spec(pool, f"address-pools[{index}]"))
    number = 0
    for (index, pool), name in zip(enumerate(_list(config, "address-pools")), pools, strict=True):
        where = f"address-pools[{index}]"
        entries = pool.get("bgp-advertisements") or []
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise LbError(f"{where}.bgp-advertisements: must be a list of mappings")
        protocol = pool.get("protocol")
        if entries and protocol != "bgp":
            raise LbError(f"{where}.bgp-advertisements: only a bgp pool has them, not {protocol!r}")
        if protocol == "bgp":
            for ad_index, ad in enumerate(entries or [{}]):
                ad_spec = _fields(ad, AD_FIELDS, f"{where}.bgp-advertisements[{ad_index}]")
                number += 1
                add("BGPAdvertisement", f"bgpadvertisement{number}",
                    {**ad_spec, "ipAddressPools": [name]})  # fmt: skip
        elif protocol != "layer2":
            notes.append(
                f"{where}.protocol: {protocol!r} is neither layer2 nor bgp: pool {name} is "
                "converted without an advertisement and will not be announced"
            )
    number = 0
    for pool, name in zip(_list(config, "address-pools"), pools, strict=True):
        if pool.get("protocol") == "layer2":
            number += 1
            add("L2Advertisement", f"l2advertisement{number}", {"ipAddressPools": [name]})
    for (index, profile), name in zip(enumerate(_list(config, "bfd-profiles")), profiles,
                                      strict=True):  # fmt: skip
        spec = _fields(profile, BFD_FIELDS, f"bfd-profiles[{index}]", skip={"name"})
        # MetalLB's converter writes both modes, false when unset.
        add("BFDProfile", name, {"echoMode": False, "passiveMode": False, **spec})
    communities = config.get("bgp-communities") or {}
    if not isinstance(communities, Mapping):
        raise LbError("bgp-communities: must be a mapping of alias to value")
    if communities:
        entries = [{"name": str(k), "value": str(v)} for k, v in sorted(communities.items())]
        add("Community", "communities", {"communities": entries})
    return objects


def _peer_spec(peer: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    spec = _fields(peer, PEER_FIELDS, where, skip={"node-selectors"})
    for key in ("myASN", "peerAddress"):
        if key not in spec:
            raise LbError(f"{where}: {_legacy_name(key)} is required")
    hold = _whole_seconds(spec.get("holdTime", "90s"), f"{where}.hold-time")
    if hold and hold < 3:
        raise LbError(f"{where}.hold-time: {spec['holdTime']!r} must be 0 or at least 3s")
    spec["holdTime"] = go_duration(hold)
    if "keepaliveTime" in spec:
        spec["keepaliveTime"] = go_duration(
            _whole_seconds(spec["keepaliveTime"], f"{where}.keepalive-time")
        )
    if not spec.get("ebgpMultiHop"):
        spec.pop("ebgpMultiHop", None)  # false is the default; MetalLB does not write it
    if "bfdProfile" in spec:
        spec["bfdProfile"] = k8s_name(str(spec["bfdProfile"]), f"{where}.bfd-profile", notes)
    selectors = peer.get("node-selectors")
    if selectors:
        spec["nodeSelectors"] = [_selector(s, f"{where}.node-selectors") for s in selectors]
    return spec


def _pool_spec(pool: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"addresses": list(_required(pool, "addresses", where))}
    if "auto-assign" in pool:
        spec["autoAssign"] = bool(pool["auto-assign"])
    if "avoid-buggy-ips" in pool:
        spec["avoidBuggyIPs"] = bool(pool["avoid-buggy-ips"])
    return spec


def _names(items: list[Mapping[str, Any]], section: str, kind: str, notes: list[str]) -> list[str]:
    """Each item's name made valid for the API server; two that end up alike are an
    error (one object would silently replace the other)."""
    names: dict[str, str] = {}
    result = []
    for index, item in enumerate(items):
        where = f"{section}[{index}]"
        original = str(_required(item, "name", where))
        name = k8s_name(original, f"{where}.name", notes)
        if name in names:
            raise LbError(
                f"{where}.name: {original!r} becomes {name!r}, as {names[name]!r} does: "
                f"two {kind}s cannot share a name"
            )
        names[name] = original
        result.append(name)
    return result


_VALID_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_INVALID_CHARACTERS = re.compile(r"[^-a-z0-9]")


def k8s_name(name: str, where: str, notes: list[str] | None = None) -> str:
    """``name`` as an object name the API server accepts (a DNS-1035 label), made
    as MetalLB's converter makes it; unchanged when it already is one."""
    if _VALID_NAME.match(name):
        return name
    lowered = name[:63].lower().replace("_", "-")
    lowered = _INVALID_CHARACTERS.sub("-", lowered)
    first_letter = re.search(r"[a-z]", lowered)
    if first_letter is None:
        raise LbError(f"{where}: {name!r} has no letter to make an object name of")
    valid = lowered[first_letter.start() :].rstrip("-")
    if notes is not None:
        notes.append(f"{where}: {name!r} renamed {valid!r} (the API server refuses the former)")
    return valid


def _whole_seconds(text: Any, where: str) -> int:
    """A Go duration cut to whole seconds, as MetalLB's converter reads it."""
    try:
        return int(parse_duration(str(text)))
    except ValueError:
        raise LbError(f"{where}: {text!r} is not a duration (Go syntax such as 90s)") from None


def go_duration(seconds: int) -> str:
    """Whole seconds as Go's time.Duration prints them: 1m30s, 2m0s, 1h0m0s, 0s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


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
