"""BGPPeers (their timers) and BFDProfiles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import (
    BFD,
    PEER,
    BFDProfileValue,
    BGPPeer,
    ConfigInputs,
)
from .primitives import (
    Errors,
    _bool,
    _duration,
    _int,
    _ip,
    _selectors,
    _specs,
)
from .rules import (
    _check_duplicate_peers,
    _check_secret,
)

DEFAULT_HOLD_TIME = 90.0  # seconds, BGP's customary default and MetalLB's


def parse_peers(
    inputs: ConfigInputs, errors: Errors, bfd_profiles: Mapping[str, BFDProfileValue]
) -> list[BGPPeer]:
    result = []
    for name, ref, spec in _specs(inputs, PEER, errors):
        before = len(errors.items)
        my_asn = _int(spec, "myASN", ref, errors, low=0, high=2**32 - 1) or 0
        peer_asn = _int(spec, "peerASN", ref, errors, low=0, high=2**32 - 1) or 0
        dynamic = spec.get("dynamicASN") or None
        if my_asn == 0:
            errors.add(ref, "spec.myASN", "missing local ASN")
        if peer_asn == 0 and dynamic is None:
            errors.add(ref, "spec.peerASN", "missing peer ASN and dynamicASN")
        if peer_asn and dynamic is not None:
            errors.add(ref, "spec.dynamicASN", "both peer ASN and dynamicASN specified")
        if dynamic is not None and dynamic not in ("internal", "external"):
            errors.add(ref, "spec.dynamicASN", f"invalid dynamicASN {dynamic}")
        ibgp = dynamic == "internal" if dynamic else my_asn == peer_asn
        multihop = _bool(spec, "ebgpMultiHop", False, ref, errors)
        if multihop and ibgp:
            errors.add(
                ref, "spec.ebgpMultiHop", "invalid ebgp-multihop parameter set for an ibgp peer"
            )
        address = _ip(spec, "peerAddress", "BGPPeer address", ref, errors)
        interface = spec.get("interface") or None
        if spec.get("peerAddress") in (None, "") and interface is None:
            errors.add(ref, "spec.peerAddress", "peer has no Address or Interface specified")
        if spec.get("peerAddress") not in (None, "") and interface is not None:
            errors.add(ref, "spec.interface", "peer has both Address and Interface specified")
        port = _int(spec, "peerPort", ref, errors, low=0, high=16384) or 179
        source = _ip(spec, "sourceAddress", "source IP", ref, errors)
        router_id = _ip(spec, "routerID", "router ID", ref, errors)
        hold, keepalive = _timers(spec, ref, errors)
        connect = _duration(spec, "connectTime", ref, errors)
        if connect is not None and (connect != int(connect) or not 1 <= connect <= 65535):
            errors.add(
                ref,
                "spec.connectTime",
                f"invalid connectTime {spec['connectTime']}: must be whole seconds "
                "between 1s and 65535s",
            )
        password = spec.get("password") or None
        secret_ref = spec.get("passwordSecret") or None
        secret_name = secret_ref.get("name") if isinstance(secret_ref, Mapping) else None
        if password and secret_name:
            errors.add(
                ref,
                "spec.passwordSecret",
                "can not have both password and secret ref "
                f'set in peer config "{inputs.namespace}"/"{name}"',
            )
        elif secret_name and inputs.secrets is not None:
            _check_secret(inputs, ref, secret_name, errors)
        bfd = spec.get("bfdProfile") or None
        if bfd is not None and bfd not in bfd_profiles:
            errors.add(
                ref,
                "spec.bfdProfile",
                f"peer {name} referencing non existing bfd profile {bfd}",
                transient=True,
            )
        nodes = _selectors(spec.get("nodeSelectors"), ref, "spec.nodeSelectors", errors)
        graceful = _bool(spec, "enableGracefulRestart", False, ref, errors)
        dual = _bool(spec, "dualStackAddressFamily", False, ref, errors)
        local_asn = _int(spec, "localASN", ref, errors, low=0, high=2**32 - 1) or 0
        vrf = spec.get("vrf") or ""
        _bool(spec, "disableMP", False, ref, errors)
        if len(errors.items) != before:
            continue
        local_asn = _usable_local_asn(local_asn, my_asn, peer_asn, ibgp, ref, errors)
        _warn_unhonoured(spec, ref, errors)
        assert nodes is not None
        result.append(
            BGPPeer(
                name=name,
                my_asn=my_asn,
                peer_asn=peer_asn,
                dynamic_asn=dynamic,
                address=address,
                interface=interface,
                port=port,
                source_address=source,
                router_id=router_id,
                hold_time=hold,
                keepalive_time=keepalive,
                connect_time=connect,
                node_selectors=nodes,
                password=password,
                password_secret=secret_name,
                bfd_profile=bfd,
                ebgp_multihop=multihop,
                graceful_restart=graceful,
                vrf=str(vrf),
                local_asn=local_asn,
                dual_stack_address_family=dual,
            )
        )
    _check_duplicate_peers(inputs, result, errors)
    return result


# BGPPeer fields ironlb accepts (MetalLB's FRR modes honour them) but its native
# speaker does not honour yet: each gets a warning naming it, wherever the
# configuration is judged (validate, plan, ConfigurationState, the speaker's log).
NOT_HONOURED_PEER_FIELDS = {
    "vrf": "sessions in a VRF are not implemented by ironlb's native speaker yet: this peer "
    "gets no session",
}
# ironlb's BFD runs on Control packets only, and says so: it advertises a Required
# Min Echo RX Interval of 0, so a peer never sends it echo packets either.
NO_ECHO = (
    "the BFD echo function is not implemented by ironlb: sessions naming this profile "
    "detect failures with control packets at the profile's intervals"
)
DISABLE_MP_WARNING = (
    "disable mp is deprecated and has no effect since it's the default behavior now"
)


def _warn_unhonoured(spec: Mapping[str, Any], ref: str, errors: Errors) -> None:
    for field, why in NOT_HONOURED_PEER_FIELDS.items():
        if spec.get(field) not in (None, ""):
            errors.warn(ref, f"spec.{field}", why)
    if spec.get("disableMP") is True:
        errors.warn(ref, "spec.disableMP", DISABLE_MP_WARNING)  # MetalLB's words


def _usable_local_asn(
    local_asn: int, my_asn: int, peer_asn: int, ibgp: bool, ref: str, errors: Errors
) -> int:
    """``localASN`` where FRR takes ``local-as`` (MetalLB's FRR modes render it): on
    eBGP sessions, differing from both ASNs. Elsewhere FRR refuses the neighbour's
    configuration; ironlb opens the session with ``myASN`` and says so."""
    if not local_asn:
        return 0
    if ibgp:
        why = "localASN applies to eBGP sessions only (FRR refuses local-as on iBGP)"
    elif local_asn == my_asn:
        why = "localASN equals myASN"
    elif local_asn == peer_asn:
        why = "localASN equals peerASN (FRR refuses local-as equal to remote-as)"
    else:
        return local_asn
    errors.warn(ref, "spec.localASN", f"{why}: not used, the session opens with myASN {my_asn}")
    return 0


def _timers(spec: Mapping[str, Any], ref: str, errors: Errors) -> tuple[float, float]:
    """Hold and keepalive time in seconds, the one place their defaults are decided:
    one given derives the other (MetalLB's parseTimers), none given is BGP's
    customary 90 s hold."""
    hold = _duration(spec, "holdTime", ref, errors)
    keepalive = _duration(spec, "keepaliveTime", ref, errors)
    if hold is None and keepalive is None:
        return DEFAULT_HOLD_TIME, DEFAULT_HOLD_TIME / 3
    if hold is None:
        assert keepalive is not None
        hold = keepalive * 3
    elif keepalive is None:
        keepalive = hold / 3
    whole = int(hold)
    if whole != 0 and whole < 3:
        errors.add(
            ref, "spec.holdTime", f'invalid hold time "{spec.get("holdTime")}": must be 0 or >=3s'
        )
    if keepalive > hold:
        errors.add(
            ref,
            "spec.keepaliveTime",
            f'invalid keepaliveTime "{spec.get("keepaliveTime")}"'
            f', must be lower than holdTime "{spec.get("holdTime")}"',
        )
    return float(whole), keepalive


def parse_bfd_profiles(inputs: ConfigInputs, errors: Errors) -> dict[str, BFDProfileValue]:
    profiles = {}
    for name, ref, spec in _specs(inputs, BFD, errors):
        before = len(errors.items)
        values = {
            "receiveInterval": _int(spec, "receiveInterval", ref, errors, low=10, high=60000),
            "transmitInterval": _int(spec, "transmitInterval", ref, errors, low=10, high=60000),
            "detectMultiplier": _int(spec, "detectMultiplier", ref, errors, low=2, high=255),
            "echoInterval": _int(spec, "echoInterval", ref, errors, low=10, high=60000),
            "minimumTtl": _int(spec, "minimumTtl", ref, errors, low=1, high=254),
        }
        echo = _bool(spec, "echoMode", False, ref, errors)
        passive = _bool(spec, "passiveMode", False, ref, errors)
        if len(errors.items) != before:
            continue
        for field in ("echoMode", "echoInterval"):
            if spec.get(field) not in (None, False):
                errors.warn(ref, f"spec.{field}", NO_ECHO)
        profiles[name] = BFDProfileValue(
            name,
            values["receiveInterval"],
            values["transmitInterval"],
            values["detectMultiplier"],
            values["echoInterval"],
            echo,
            passive,
            values["minimumTtl"],
        )
    return profiles
