"""The metallb.io CustomResourceDefinitions ironlb installs, as data: one source for
deploy/base/crds.yaml (written by deploy/generate_crds.py) and for the strict
checks of ``validate`` and ``plan`` (tools/schema.py).

Same group, kinds, versions and fields as MetalLB's, so existing objects apply
unchanged; ironlb's ServiceL2Status status carries one more field (``conflicts``).
The schemas hold what a schema can check (types, enums, ranges, required fields);
rules across objects are the validating webhook's and the reconciler's. Written as
a program, not by hand, so the nine CRDs cannot drift apart in how they say
"label selector" or "status subresource".
"""

from __future__ import annotations

from typing import Any

GROUP = "metallb.io"


def string(**extra: Any) -> dict:
    return {"type": "string", **extra}


def integer(minimum: int | None = None, maximum: int | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean(**extra: Any) -> dict:
    return {"type": "boolean", **extra}


def array(items: dict, **extra: Any) -> dict:
    return {"type": "array", "items": items, **extra}


def obj(properties: dict, required: list[str] | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


LABEL_SELECTOR = obj(
    {
        "matchLabels": {"type": "object", "additionalProperties": string()},
        "matchExpressions": array(
            obj(
                {
                    "key": string(),
                    "operator": string(enum=["In", "NotIn", "Exists", "DoesNotExist"]),
                    "values": array(string()),
                },
                ["key", "operator"],
            )
        ),
    },
    **{"x-kubernetes-map-type": "atomic"},
)
SELECTORS = array(LABEL_SELECTOR)
DURATION = string(pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
ASN = integer(0, 4294967295)

POOL = obj(
    {
        "addresses": array(string(), minItems=1),
        "autoAssign": boolean(default=True),
        "avoidBuggyIPs": boolean(default=False),
        "serviceAllocation": obj(
            {
                "priority": integer(),
                "namespaces": array(string()),
                "namespaceSelectors": SELECTORS,
                "serviceSelectors": SELECTORS,
            }
        ),
    },
    ["addresses"],
)
POOL_STATUS = obj(
    {k: integer(0) for k in ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")}
)
POOL_CHOICE = {"ipAddressPools": array(string()), "ipAddressPoolSelectors": SELECTORS}
L2 = obj(
    {
        **POOL_CHOICE,
        "nodeSelectors": SELECTORS,
        "interfaces": array(string()),
        "serviceSelectors": SELECTORS,
        "preferredNodeSelectors": array(
            obj({"weight": integer(1, 100), "preference": LABEL_SELECTOR}, ["weight", "preference"])
        ),
    }
)
BGP_AD = obj(
    {
        **POOL_CHOICE,
        "aggregationLength": integer(1, 32, default=32),
        "aggregationLengthV6": integer(0, 128, default=128),
        "localPref": integer(0, 4294967295),
        "communities": array(string()),
        "nodeSelectors": SELECTORS,
        "peers": array(string()),
        "serviceSelectors": SELECTORS,
    }
)
PEER_COMMON = {
    "myASN": ASN,
    "peerASN": ASN,
    "peerAddress": string(),
    "sourceAddress": string(),
    "holdTime": DURATION,
    "keepaliveTime": DURATION,
    "routerID": string(),
    "password": string(),
    "bfdProfile": string(),
    "ebgpMultiHop": boolean(),
}
PEER_V1BETA1 = obj(
    {
        **PEER_COMMON,
        "peerPort": integer(0, 16384),
        "nodeSelectors": array(
            obj(
                {
                    "matchLabels": {"type": "object", "additionalProperties": string()},
                    "matchExpressions": array(
                        obj(
                            {"key": string(), "operator": string(), "values": array(string())},
                            ["key", "operator", "values"],
                        )
                    ),
                }
            )
        ),
    },
    ["myASN", "peerASN", "peerAddress"],
)
PEER_V1BETA2 = obj(
    {
        **PEER_COMMON,
        "peerPort": integer(1, 16384, default=179),
        "dynamicASN": string(enum=["internal", "external"]),
        "localASN": integer(1, 4294967295),
        "interface": string(),
        "connectTime": DURATION,
        "nodeSelectors": SELECTORS,
        "passwordSecret": obj({"name": string(), "namespace": string()}),
        "enableGracefulRestart": boolean(),
        "vrf": string(),
        "disableMP": boolean(default=False),
        "dualStackAddressFamily": boolean(default=False),
    },
    ["myASN"],
)
COMMUNITY = obj(
    {"communities": array(obj({"name": string(), "value": string()}, ["name", "value"]))}
)
BFD = obj(
    {
        "receiveInterval": integer(10, 60000),
        "transmitInterval": integer(10, 60000),
        "detectMultiplier": integer(2, 255),
        "echoInterval": integer(10, 60000),
        "echoMode": boolean(),
        "passiveMode": boolean(),
        "minimumTtl": integer(1, 254),
    }
)
SERVICE_STATUS_COMMON = {"node": string(), "serviceName": string(), "serviceNamespace": string()}
L2_STATUS = obj(
    {
        **SERVICE_STATUS_COMMON,
        "interfaces": array(obj({"name": string()}, ["name"])),
        # ironlb: other hosts seen claiming an address this node announces
        "conflicts": array(
            obj(
                {
                    "ip": string(),
                    "interface": string(),
                    "mac": string(),
                    "how": string(),
                    "lastSeen": string(format="date-time"),
                }
            )
        ),
    }
)
BGP_STATUS = obj({**SERVICE_STATUS_COMMON, "peers": array(string())})
CONDITION = obj(
    {
        "type": string(),
        "status": string(enum=["True", "False", "Unknown"]),
        "reason": string(),
        "message": string(),
        "lastTransitionTime": string(format="date-time"),
    },
    ["type", "status"],
)
CONFIG_STATE = obj(
    {
        "result": string(enum=["Valid", "Invalid", "Unknown"]),
        "errorSummary": string(),
        "conditions": array(CONDITION),
    }
)


def columns(*specs: tuple[str, str, str]) -> list[dict]:
    return [{"name": n, "type": t, "jsonPath": p} for n, t, p in specs]


def crd(
    kind: str,
    plural: str,
    versions: list[tuple[str, dict, dict | None, bool]],
    printer: list[dict] | None = None,
) -> dict:
    """versions: (name, spec schema, status schema or None, storage)."""
    served = []
    for name, spec, status, storage in versions:
        properties: dict[str, Any] = {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": spec,
        }
        if status is not None:
            properties["status"] = status
        version: dict[str, Any] = {
            "name": name,
            "served": True,
            "storage": storage,
            "schema": {"openAPIV3Schema": obj(properties)},
        }
        if status is not None:
            version["subresources"] = {"status": {}}
        if printer:
            version["additionalPrinterColumns"] = printer
        if kind == "BGPPeer" and name == "v1beta1":
            version["deprecated"] = True
            version["deprecationWarning"] = "metallb.io v1beta1 BGPPeer is deprecated, use v1beta2"
        served.append(version)
    definition: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
            },
            "scope": "Namespaced",
            "versions": served,
        },
    }
    # BGPPeer v1beta1 and v1beta2 share their fields but for nodeSelectors' shape and
    # the timers' pointers; until ironlb's conversion webhook exists the API server
    # converts by relabelling (strategy None), which keeps every shared field.
    return definition


def definitions() -> list[dict]:
    empty = obj({})
    return [
        crd(
            "IPAddressPool",
            "ipaddresspools",
            [("v1beta1", POOL, POOL_STATUS, True)],
            columns(
                ("Auto Assign", "boolean", ".spec.autoAssign"),
                ("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
                ("Addresses", "string", ".spec.addresses"),
            ),
        ),
        crd(
            "L2Advertisement",
            "l2advertisements",
            [("v1beta1", L2, None, True)],
            columns(
                ("IPAddressPools", "string", ".spec.ipAddressPools"),
                ("Interfaces", "string", ".spec.interfaces"),
            ),
        ),
        crd(
            "BGPAdvertisement",
            "bgpadvertisements",
            [("v1beta1", BGP_AD, None, True)],
            columns(
                ("IPAddressPools", "string", ".spec.ipAddressPools"),
                ("Peers", "string", ".spec.peers"),
            ),
        ),
        crd(
            "BGPPeer",
            "bgppeers",
            [("v1beta1", PEER_V1BETA1, None, False), ("v1beta2", PEER_V1BETA2, None, True)],
            columns(("Address", "string", ".spec.peerAddress"), ("ASN", "string", ".spec.peerASN")),
        ),
        crd("Community", "communities", [("v1beta1", COMMUNITY, None, True)]),
        crd("BFDProfile", "bfdprofiles", [("v1beta1", BFD, None, True)]),
        crd(
            "ServiceL2Status",
            "servicel2statuses",
            [("v1beta1", empty, L2_STATUS, True)],
            columns(
                ("Node", "string", ".status.node"), ("Service", "string", ".status.serviceName")
            ),
        ),
        crd(
            "ServiceBGPStatus",
            "servicebgpstatuses",
            [("v1beta1", empty, BGP_STATUS, True)],
            columns(
                ("Node", "string", ".status.node"), ("Service", "string", ".status.serviceName")
            ),
        ),
        crd(
            "ConfigurationState",
            "configurationstates",
            [("v1beta1", empty, CONFIG_STATE, True)],
            columns(
                ("Result", "string", ".status.result"), ("Errors", "string", ".status.errorSummary")
            ),
        ),
    ]
