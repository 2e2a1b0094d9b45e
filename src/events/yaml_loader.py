"""YAML read as Kubernetes reads it: the one loader of every ironlb command.

kubectl and the API server turn YAML into JSON with sigs.k8s.io/yaml, which
resolves plain scalars as go-yaml v2 does; PyYAML's YAML 1.1 resolver differs, and
the differences change values users wrote. Measured against kubectl 1.37
(``kubectl create --dry-run=client -o json``, tests/integration/test_yaml_as_kubectl.py):

* no base-60 numbers: ``64512:1`` (a BGP community) stays the string "64512:1"
  (PyYAML read it as 3870721);
* ``y``/``Y``/``n``/``N`` are booleans, like ``yes``/``no``/``on``/``off``;
* ``0o17`` is octal 15, ``1e3`` is 1000 (PyYAML: strings), ``0755`` octal 493;
* dates and timestamps stay strings (PyYAML: date objects);
* keys that resolve to booleans, numbers or null become their JSON text (``y:`` is
  the key "true");
* ``.inf``/``.nan`` are numbers JSON cannot hold: an error, as in kubectl.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from typing import Any

import yaml

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOOL = re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE"
                   r"|on|On|ON|off|Off|OFF)$")  # fmt: skip
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(
    r"^(?:[-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}


class KubernetesLoader(_Base):  # type: ignore[misc, valid-type]
    """A safe loader whose plain scalars resolve as sigs.k8s.io/yaml resolves them."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        # JSON keys are strings: sigs.k8s.io/yaml writes a key that resolved to a
        # boolean, a number or null as its JSON text (``y:`` is the key "true"). Each
        # key is turned into text before it goes in, or True and 1 would collide.
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)  # merge keys (<<)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key_text(self.construct_object(key_node, deep=deep))
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found an unhashable key", key_node.start_mark,
                )  # fmt: skip
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _key_text(key: Any) -> Any:
    if key is True or key is False:
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int | float):
        return str(key)
    return key


def _resolver(tag: str, pattern: re.Pattern[str], first: str) -> None:
    KubernetesLoader.add_implicit_resolver(tag, pattern, list(first))


_resolver("tag:yaml.org,2002:bool", _BOOL, "yYnNtTfFoO")
_resolver("tag:yaml.org,2002:null", _NULL, "~nN\0")
KubernetesLoader.add_implicit_resolver("tag:yaml.org,2002:null", _NULL, [""])
_resolver("tag:yaml.org,2002:int", _INT, "-+0123456789")
_resolver("tag:yaml.org,2002:float", _FLOAT, "-+0123456789.")
_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), "<")


def _construct_bool(loader: Any, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)) in _TRUE


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith(("0b", "0B")):
        return sign * int(digits[2:], 2)
    if digits.startswith(("0x", "0X")):
        return sign * int(digits[2:], 16)
    if digits.startswith(("0o", "0O")):
        return sign * int(digits[2:], 8)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float | int:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    if text.lstrip("+-") == ".inf":
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    value = float(text)
    # JSON has one kind of number: 1e3 and 1. are the integers kubectl writes.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _construct_string(loader: Any, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


KubernetesLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
KubernetesLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
KubernetesLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
# An explicit !!timestamp is kept as the text it was, as kubectl keeps it.
KubernetesLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_string)


def load(text: str) -> Any:
    """One YAML document."""
    return yaml.load(text, Loader=KubernetesLoader)


def load_all(text: str) -> Iterator[Any]:
    """Every document of a YAML stream."""
    return yaml.load_all(text, Loader=KubernetesLoader)
