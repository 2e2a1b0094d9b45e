"""Kubernetes label selectors: parsing with MetalLB's hygiene rules, and matching.

A selector is ``{matchLabels: {...}, matchExpressions: [{key, operator, values}]}``;
all of its requirements must hold (AND); an empty selector matches everything.
Lists of selectors in MetalLB's CRDs are OR-ed by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

# Kubernetes qualified names: optional DNS-subdomain prefix, then a name of at
# most 63 characters; label values are at most 63 characters of the same alphabet.
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")


class SelectorError(ValueError):
    """A selector that Kubernetes would not accept; the message says which part."""


@attrs.frozen
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@attrs.frozen
class Selector:
    requirements: tuple[Requirement, ...]
    text: str  # canonical form, for messages and duplicate detection

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    @property
    def is_empty(self) -> bool:
        return not self.requirements


MATCH_ALL = Selector((), "")


def any_matches(selectors: Sequence[Selector], labels: Mapping[str, str]) -> bool:
    """OR over a list of selectors (how MetalLB combines them); False for an empty list."""
    return any(s.matches(labels) for s in selectors)


def selects(selectors: Sequence[Selector], labels: Mapping[str, str]) -> bool:
    """MetalLB's rule for serviceSelectors and nodeSelectors: none selects everything."""
    return not selectors or any_matches(selectors, labels)


def parse_selector(raw: Any) -> Selector:
    """One LabelSelector (metav1 or MetalLB's v1beta1 legacy shape, which is the same)."""
    if raw is None:
        return MATCH_ALL
    if not isinstance(raw, Mapping):
        raise SelectorError("a label selector must be an object")
    requirements: list[Requirement] = []
    match_labels = raw.get("matchLabels")
    match_labels = {} if match_labels is None else match_labels
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object")
    for key, value in match_labels.items():
        _check_key(key)
        if not isinstance(value, str) or not _VALUE.match(value):
            raise SelectorError(f"matchLabels: invalid label value {value!r} for key {key!r}")
        requirements.append(Requirement(key, "In", frozenset([value])))
    expressions = raw.get("matchExpressions")
    expressions = [] if expressions is None else expressions
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for index, expression in enumerate(expressions):
        requirement = _parse_expression(expression, index)
        identity = (requirement.key, requirement.operator, tuple(sorted(requirement.values)))
        if identity in seen:
            raise SelectorError(f"matchExpressions[{index}]: duplicate match expression")
        seen.add(identity)
        requirements.append(requirement)
    requirements.sort(key=lambda r: (r.key, r.operator, sorted(r.values)))
    return Selector(tuple(requirements), _canonical(requirements))


def _parse_expression(expression: Any, index: int) -> Requirement:
    where = f"matchExpressions[{index}]"
    if not isinstance(expression, Mapping):
        raise SelectorError(f"{where}: must be an object")
    key = expression.get("key")
    operator = expression.get("operator")
    values = expression.get("values") or []
    _check_key(key, where)
    if operator not in OPERATORS:
        raise SelectorError(f"{where}: operator {operator!r} is not one of {', '.join(OPERATORS)}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SelectorError(f"{where}: values must be a list of strings")
    if len(set(values)) != len(values):
        raise SelectorError(f"{where}: duplicate values {sorted(values)}")
    if operator in ("In", "NotIn") and not values:
        raise SelectorError(f"{where}: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise SelectorError(f"{where}: operator {operator} takes no values")
    for value in values:
        if not _VALUE.match(value):
            raise SelectorError(f"{where}: invalid label value {value!r}")
    return Requirement(key, operator, frozenset(values))


def _check_key(key: Any, where: str = "matchLabels") -> None:
    if not isinstance(key, str) or not _KEY.match(key) or len(key.split("/")[0]) > 253:
        raise SelectorError(f"{where}: invalid label key {key!r}")


def _canonical(requirements: Sequence[Requirement]) -> str:
    parts = []
    for r in requirements:
        if r.operator == "In" and len(r.values) == 1:
            parts.append(f"{r.key}={next(iter(r.values))}")
        elif r.operator == "Exists":
            parts.append(r.key)
        elif r.operator == "DoesNotExist":
            parts.append(f"!{r.key}")
        else:
            word = "in" if r.operator == "In" else "notin"
            parts.append(f"{r.key} {word} ({','.join(sorted(r.values))})")
    return ",".join(parts)
