"""What each process publishes as status objects, computed from its plan.

The speaker: one ServiceL2Status per Service it answers ARP/NDP for, one
ServiceBGPStatus per Service whose prefixes it hands to peers (MetalLB's content
and labels), and its ConfigurationState. ironlb's ServiceL2Status carries one
field more than MetalLB's: ``conflicts``, the other hosts seen claiming an address
the node announces (duplicate-address detection).

The controller: each IPAddressPool's counters and its ConfigurationState.

Object names are derived from what they describe (MetalLB lets the API server
generate them): a restarted speaker finds and updates its own objects instead of
creating a second set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...reconcile.config import ConfigError
from ...reconcile.plan.controller import ControllerPlan
from ...reconcile.plan.speaker import NodePlan
from .status_objects import ObjectRef, WantedStatus

API_VERSION = "metallb.io/v1beta1"
NODE_LABEL = "metallb.io/node"
SERVICE_NAME_LABEL = "metallb.io/service-name"
SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace"
COMPONENT_LABEL = "metallb.io/component-type"
NODE_NAME_LABEL = "metallb.io/node-name"


def _object_name(prefix: str, node: str, service: str) -> str:
    digest = hashlib.sha256(f"{node}/{service}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


# protocol -> (plural, kind); the object name starts with the protocol, as MetalLB's
SERVICE_STATUS_KINDS = {
    "l2": ("servicel2statuses", "ServiceL2Status"),
    "bgp": ("servicebgpstatuses", "ServiceBGPStatus"),
}


def service_status_ref(protocol: str, namespace: str, node: str, service: str) -> ObjectRef:
    plural = SERVICE_STATUS_KINDS[protocol][0]
    return ObjectRef(API_VERSION, plural, namespace, _object_name(protocol, node, service))


def _service_status(
    protocol: str, namespace: str, node: str, service: str, extra: dict[str, Any]
) -> tuple[ObjectRef, WantedStatus]:
    kind = SERVICE_STATUS_KINDS[protocol][1]
    service_namespace, _, service_name = service.partition("/")
    ref = service_status_ref(protocol, namespace, node, service)
    labels = {
        NODE_LABEL: node,
        SERVICE_NAME_LABEL: service_name,
        SERVICE_NAMESPACE_LABEL: service_namespace,
    }
    status = {
        "node": node,
        "serviceName": service_name,
        "serviceNamespace": service_namespace,
        **extra,
    }
    return ref, WantedStatus(kind, status, labels)


def speaker_statuses(
    plan: NodePlan,
    namespace: str,
    conflicts: Mapping[str, Mapping[str, Any]],
    config_errors: Sequence[ConfigError],
    config_warnings: Sequence[ConfigError] = (),
) -> dict[ObjectRef, WantedStatus]:
    """``conflicts``: address -> the latest conflict seen for it on this node."""
    wanted = dict(
        [configuration_state("speaker", namespace, config_errors, plan.node, config_warnings)]
    )
    services = plan.l2.keys() | plan.bgp_status.keys()
    wanted.update(service_statuses(plan, namespace, conflicts, services)[0])
    return wanted


def service_statuses(
    plan: NodePlan,
    namespace: str,
    conflicts: Mapping[str, Mapping[str, Any]],
    services: Iterable[str],
) -> tuple[dict[ObjectRef, WantedStatus], list[ObjectRef]]:
    """The status objects of ``services`` as ``plan`` has them, and the objects of
    theirs it no longer wants: what changed Services need, without the others."""
    wanted: dict[ObjectRef, WantedStatus] = {}
    gone: list[ObjectRef] = []
    ordered = sorted(services)
    for service in ordered:
        if service not in plan.l2:
            gone.append(service_status_ref("l2", namespace, plan.node, service))
            continue
        seen = [dict(conflicts[ip]) for ip in sorted(plan.l2[service]) if ip in conflicts]
        interfaces = plan.l2_interfaces_of(service)
        extra = {"interfaces": [{"name": name} for name in interfaces], "conflicts": seen}
        ref, status = _service_status("l2", namespace, plan.node, service, extra)
        wanted[ref] = status
    for service in ordered:
        peers = plan.bgp_status.get(service)
        if peers is None:
            gone.append(service_status_ref("bgp", namespace, plan.node, service))
            continue
        extra = {"peers": sorted(peers)}
        ref, status = _service_status("bgp", namespace, plan.node, service, extra)
        wanted[ref] = status
    return wanted, gone


def controller_statuses(plan: ControllerPlan, namespace: str) -> dict[ObjectRef, WantedStatus]:
    wanted = dict([configuration_state("controller", namespace, plan.config_errors)])
    for pool, counters in plan.pools.items():
        ref = ObjectRef(API_VERSION, "ipaddresspools", namespace, pool)
        wanted[ref] = WantedStatus("IPAddressPool", counters.to_json(), owned=False)
    return wanted


def honoured_condition(warnings: Sequence[ConfigError]) -> dict[str, str]:
    """A speaker's second condition: does it honour every field the configuration
    sets (MetalLB's FRR modes do; what ironlb's speaker does not yet is named)."""
    summary = "; ".join(str(w) for w in sorted(set(warnings)))
    return {
        "type": "ConfigurationHonoured",
        "status": "False" if warnings else "True",
        "reason": "FieldsNotHonoured" if warnings else "AllFieldsHonoured",
        "message": summary,
    }


def configuration_state(
    component: str,
    namespace: str,
    errors: Sequence[ConfigError],
    node: str | None = None,
    warnings: Sequence[ConfigError] | None = None,
) -> tuple[ObjectRef, WantedStatus]:
    """MetalLB's ConfigurationState: is the configuration this process reads valid;
    with ``warnings`` (speakers), does it honour every field set."""
    name = component if node is None else f"{component}-{node}"
    labels = {COMPONENT_LABEL: component, **({NODE_NAME_LABEL: node} if node else {})}
    summary = "; ".join(str(e) for e in errors)
    status = {
        "result": "Invalid" if errors else "Valid",
        "errorSummary": summary,
        "conditions": [
            {
                "type": "ConfigurationValid",
                "status": "False" if errors else "True",
                "reason": "ConfigurationError" if errors else "ConfigurationValid",
                "message": summary,
            }
        ],
    }
    if warnings is not None:
        status["conditions"].append(honoured_condition(warnings))
    ref = ObjectRef(API_VERSION, "configurationstates", namespace, name)
    return ref, WantedStatus("ConfigurationState", status, labels)
