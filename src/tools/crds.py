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


def integer(
    minimum: int | None = None, maximum: int | None = None, bits: int = 32, **extra: Any
) -> dict:
    """An integer as controller-gen writes a Go int32 (the default), int64, or a Go
    int (``bits=0``: no format)."""
    schema: dict[str, Any] = {"type": "integer", **extra}
    if bits:
        schema["format"] = f"int{bits}"
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


ATOMIC = {"x-kubernetes-list-type": "atomic"}
LABEL_SELECTOR = obj(
    {
        "matchLabels": {"type": "object", "additionalProperties": string()},
        "matchExpressions": array(
            obj(
                {"key": string(), "operator": string(), "values": array(string(), **ATOMIC)},
                ["key", "operator"],
            ),
            **ATOMIC,
        ),
    },
    **{"x-kubernetes-map-type": "atomic"},
)
SELECTORS = array(LABEL_SELECTOR)
# Durations are plain strings, as in MetalLB's CRDs: the API server accepts what Go
# parses (0, .5m, +90s), and the webhook and the reconciler say what is wrong.
DURATION = string()
ASN = integer(0, 4294967295, bits=64)


def immutable(schema: dict) -> dict:
    return {**schema, "x-kubernetes-validations": [{"message": "Value is immutable",
                                                    "rule": "self == oldSelf"}]}  # fmt: skip


POOL = obj(
    {
        "addresses": array(string()),
        "autoAssign": boolean(default=True),
        "avoidBuggyIPs": boolean(default=False),
        "serviceAllocation": obj(
            {
                "priority": integer(bits=0),
                "namespaces": array(string()),
                "namespaceSelectors": SELECTORS,
                "serviceSelectors": SELECTORS,
            }
        ),
    },
    ["addresses"],
)
POOL_COUNTERS = ("assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6")
POOL_STATUS = obj({k: integer(bits=64) for k in POOL_COUNTERS}, list(POOL_COUNTERS))
POOL_CHOICE = {"ipAddressPools": array(string()), "ipAddressPoolSelectors": SELECTORS}
L2 = obj(
    {
        **POOL_CHOICE,
        "nodeSelectors": SELECTORS,
        "interfaces": array(string()),
        "serviceSelectors": SELECTORS,
        "preferredNodeSelectors": array(
            obj({"weight": integer(1, 100), "preference": LABEL_SELECTOR}, ["preference", "weight"])
        ),
    }
)
BGP_AD = obj(
    {
        **POOL_CHOICE,
        "aggregationLength": integer(1, default=32),
        "aggregationLengthV6": integer(default=128),
        "localPref": integer(),
        "communities": array(string()),
        "nodeSelectors": SELECTORS,
        "peers": array(string()),
        "serviceSelectors": SELECTORS,
    },
    **{
        "x-kubernetes-validations": [
            {
                "message": "serviceSelectors and aggregationLength are mutually exclusive, can "
                "only be used together with default aggregationLength (32) and "
                "aggregationLengthV6 (128)",
                "rule": "!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || "
                "((!has(self.aggregationLength) || self.aggregationLength == 32) && "
                "(!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",
            }
        ]
    },
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
        "peerPort": integer(0, 16384, bits=0),
        "nodeSelectors": array(
            obj(
                {
                    "matchLabels": {"type": "object", "additionalProperties": string()},
                    "matchExpressions": array(
                        obj(
                            {
                                "key": string(),
                                "operator": string(),
                                "values": array(string(), minItems=1),
                            },
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
        "peerPort": integer(1, 16384, bits=0, default=179),
        "dynamicASN": string(enum=["internal", "external"]),
        "localASN": integer(1, 4294967295, bits=64),
        "interface": string(),
        "connectTime": string(
            **{
                "x-kubernetes-validations": [
                    {
                        "message": "connect time should be between 1 seconds to 65535",
                        "rule": "duration(self).getSeconds() >= 1 && "
                        "duration(self).getSeconds() <= 65535",
                    },
                    {
                        "message": "connect time should contain a whole number of seconds",
                        "rule": "duration(self).getMilliseconds() % 1000 == 0",
                    },
                ]
            }
        ),
        "nodeSelectors": SELECTORS,
        "passwordSecret": obj(
            {"name": string(), "namespace": string()}, **{"x-kubernetes-map-type": "atomic"}
        ),
        "enableGracefulRestart": boolean(
            **{
                "x-kubernetes-validations": [
                    {
                        "message": "EnableGracefulRestart cannot be changed after creation",
                        "rule": "self == oldSelf",
                    }
                ]
            }
        ),
        "vrf": string(),
        "disableMP": boolean(default=False),
        "dualStackAddressFamily": boolean(default=False),
    },
    ["myASN"],
)
COMMUNITY = obj({"communities": array(obj({"name": string(), "value": string()}))})
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
SERVICE_STATUS_COMMON = {
    "node": immutable(string()),
    "serviceName": immutable(string()),
    "serviceNamespace": immutable(string()),
}
L2_STATUS = obj(
    {
        **SERVICE_STATUS_COMMON,
        "interfaces": array(obj({"name": string()})),
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
CONDITION = obj(  # Kubernetes' metav1.Condition
    {
        "lastTransitionTime": string(format="date-time"),
        "message": string(maxLength=32768),
        "observedGeneration": integer(0, bits=64),
        "reason": string(
            maxLength=1024, minLength=1, pattern="^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        ),
        "status": string(enum=["True", "False", "Unknown"]),
        "type": string(
            maxLength=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    },
    ["lastTransitionTime", "message", "reason", "status", "type"],
)
CONFIG_STATE = obj(
    {
        "result": string(enum=["Valid", "Invalid", "Unknown"]),
        "errorSummary": string(),
        "conditions": array(
            CONDITION, **{"x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"}
        ),
    }
)


def columns(*specs: tuple[str, str, str]) -> list[dict]:
    return [{"name": n, "type": t, "jsonPath": p} for n, t, p in specs]


def crd(
    kind: str,
    plural: str,
    versions: list[tuple[str, dict | None, dict, bool]],
    printer: list[dict] | None = None,
) -> dict:
    """versions: (name, spec schema or None, status schema, storage). Every kind has
    a status subresource, as MetalLB's CRDs do (most statuses are empty objects)."""
    served = []
    for name, spec, status, storage in versions:
        properties: dict[str, Any] = {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
        }
        if spec is not None:
            properties["spec"] = spec
        properties["status"] = status
        schema = obj(properties)
        if kind == "IPAddressPool":
            schema["required"] = ["spec"]
        version: dict[str, Any] = {
            "name": name,
            "served": True,
            "storage": storage,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
        }
        if printer:
            version["additionalPrinterColumns"] = printer
        if kind == "BGPPeer" and name == "v1beta1":
            version["deprecated"] = True
            version["deprecationWarning"] = "v1beta1 is deprecated, please use v1beta2"
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
    return definition


WEBHOOK_SERVICE = "ironlb-webhook"


def conversion(namespace: str) -> dict:
    """BGPPeer v1beta1 <-> v1beta2 through ironlb's webhook. In the manifests, so a
    GitOps tool does not revert it; the webhook adds its CA (caBundle) at start."""
    return {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {
                "service": {"name": WEBHOOK_SERVICE, "namespace": namespace, "path": "/convert"}
            },
        },
    }


def definitions(webhook_namespace: str | None = "metallb-system") -> list[dict]:
    """The nine CRDs; ``webhook_namespace`` None: no conversion webhook (the API
    server then only relabels BGPPeer versions)."""
    empty = {"type": "object"}
    pool_choice_columns = (
        ("IPAddressPools", "string", ".spec.ipAddressPools"),
        ("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
    )
    node_selectors = {
        "name": "Node Selectors",
        "type": "string",
        "jsonPath": ".spec.nodeSelectors",
        "priority": 10,
    }
    peer_columns = columns(
        ("Address", "string", ".spec.peerAddress"),
        ("ASN", "string", ".spec.peerASN"),
        ("BFD Profile", "string", ".spec.bfdProfile"),
        ("Multi Hops", "string", ".spec.ebgpMultiHop"),
    )
    service_status_columns = (
        ("Service Name", "string", ".status.serviceName"),
        ("Service Namespace", "string", ".status.serviceNamespace"),
    )
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
            [("v1beta1", L2, empty, True)],
            [
                *columns(*pool_choice_columns, ("Interfaces", "string", ".spec.interfaces")),
                node_selectors,
            ],
        ),
        crd(
            "BGPAdvertisement",
            "bgpadvertisements",
            [("v1beta1", BGP_AD, empty, True)],
            [*columns(*pool_choice_columns, ("Peers", "string", ".spec.peers")), node_selectors],
        ),
        with_conversion(
            crd(
                "BGPPeer",
                "bgppeers",
                [("v1beta1", PEER_V1BETA1, empty, False), ("v1beta2", PEER_V1BETA2, empty, True)],
                peer_columns,
            ),
            webhook_namespace,
        ),
        crd("Community", "communities", [("v1beta1", COMMUNITY, empty, True)]),
        crd(
            "BFDProfile",
            "bfdprofiles",
            [("v1beta1", BFD, empty, True)],
            columns(
                ("Passive Mode", "boolean", ".spec.passiveMode"),
                ("Transmit Interval", "integer", ".spec.transmitInterval"),
                ("Receive Interval", "integer", ".spec.receiveInterval"),
                ("Multiplier", "integer", ".spec.detectMultiplier"),
            ),
        ),
        crd(
            "ServiceL2Status",
            "servicel2statuses",
            [("v1beta1", empty, L2_STATUS, True)],
            columns(("Allocated Node", "string", ".status.node"), *service_status_columns),
        ),
        crd(
            "ServiceBGPStatus",
            "servicebgpstatuses",
            [("v1beta1", empty, BGP_STATUS, True)],
            columns(("Node", "string", ".status.node"), *service_status_columns),
        ),
        crd(
            "ConfigurationState",
            "configurationstates",
            [("v1beta1", None, CONFIG_STATE, True)],
            [
                *columns(
                    ("Result", "string", ".status.result"),
                    ("ErrorSummary", "string", ".status.errorSummary"),
                ),
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        ),
    ]


def with_conversion(definition: dict, namespace: str | None) -> dict:
    if namespace is not None:
        definition["spec"]["conversion"] = conversion(namespace)  # last: see generate_crds
    return definition
