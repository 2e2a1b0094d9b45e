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
from collections.abc import Callable, Hashable, Iterator
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


def _int_of(text: str) -> int:
    text = text.replace("_", "")
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


def _float_of(text: str) -> float | int:
    text = text.replace("_", "").lower()
    if text.lstrip("+-") == ".inf":
        return float("-inf") if text.startswith("-") else float("inf")
    if text == ".nan":
        return float("nan")
    value = float(text)
    # JSON has one kind of number: 1e3 and 1. are the integers kubectl writes.
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _construct_bool(loader: Any, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)) in _TRUE


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    return _int_of(str(loader.construct_scalar(node)))


def _construct_float(loader: Any, node: yaml.ScalarNode) -> float | int:
    return _float_of(str(loader.construct_scalar(node)))


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


def load_all(text: str, on_position: Callable[[int], None] | None = None) -> Iterator[Any]:
    """Every document of a YAML stream; ``on_position`` hears, now and then, how far
    into ``text`` the parser is (a progress bar on a big List).

    Built straight from the parser's events (see ``_documents_from_events``), which
    keeps memory to the objects themselves: composing first, as PyYAML's loaders
    do, holds a node of ~500 bytes per scalar until the document ends (a 16 MB
    ``kubectl get -o yaml`` List took 940 MB). A stream using what that builder
    leaves out (anchors, aliases, tags, merge keys) is read by the full loader,
    from the first document the builder did not finish.
    """
    done = 0
    try:
        for document in _documents_from_events(text, on_position):
            yield document
            done += 1
    except _NeedsFullLoader:
        pass
    else:
        return
    for number, document in enumerate(_composed_documents(text)):
        if number >= done:
            yield document


def _composed_documents(text: str) -> Iterator[Any]:
    """The reference: PyYAML composes each document, then constructs it."""
    return yaml.load_all(text, Loader=KubernetesLoader)


class _NeedsFullLoader(Exception):
    """The stream uses a YAML feature the event builder leaves to the full loader."""


def _plain_scalar(value: str) -> Any:
    """A plain scalar resolved and constructed as KubernetesLoader does it."""
    resolvers = KubernetesLoader.yaml_implicit_resolvers.get(value[:1] if value else "", ())
    for tag, pattern in resolvers:
        if pattern.match(value):
            if tag == "tag:yaml.org,2002:null":
                return None
            if tag == "tag:yaml.org,2002:bool":
                return value in _TRUE
            if tag == "tag:yaml.org,2002:int":
                return _int_of(value)
            if tag == "tag:yaml.org,2002:float":
                return _float_of(value)
            raise _NeedsFullLoader(tag)  # a merge key
    return value


POSITION_EVERY = 4096  # events between two reports of the parser's position


def _documents_from_events(
    text: str, on_position: Callable[[int], None] | None = None
) -> Iterator[Any]:
    """Documents built from parser events with a stack, as the composer and
    constructor together would build them, for the plain-data subset of YAML that
    manifests use; anything else raises _NeedsFullLoader."""
    scalar, mapping_start, sequence_start = (
        yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent,
    )  # fmt: skip
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    loader = KubernetesLoader(text)
    try:
        # Each open collection: [container, pending key or _NO_KEY]; lists ignore the key.
        stack: list[list[Any]] = []
        document: Any = None
        countdown = POSITION_EVERY
        while loader.check_event():
            event = loader.get_event()
            kind = type(event)
            if on_position is not None:
                countdown -= 1
                if not countdown:
                    countdown = POSITION_EVERY
                    on_position(event.end_mark.index)
            if kind is scalar:
                if event.anchor is not None or event.tag is not None:
                    raise _NeedsFullLoader("anchor or tag")
                value = _plain_scalar(event.value) if event.implicit[0] else event.value
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None:
                    raise _NeedsFullLoader("anchor or tag")
                stack.append([{} if kind is mapping_start else [], _NO_KEY])
                continue
            elif kind in ends:
                value = stack.pop()[0]
            elif kind is yaml.DocumentEndEvent:
                yield document
                continue
            elif kind is yaml.DocumentStartEvent:
                document = None
                continue
            elif kind is yaml.AliasEvent:
                raise _NeedsFullLoader("alias")
            else:
                continue  # stream start and end
            if not stack:
                document = value
                continue
            top = stack[-1]
            container = top[0]
            if type(container) is list:
                container.append(value)
            elif top[1] is _NO_KEY:
                if isinstance(value, dict | list):
                    raise _NeedsFullLoader("a collection as a key")  # the loader's error
                top[1] = _key_text(value)
            else:
                container[top[1]] = value
                top[1] = _NO_KEY
    finally:
        loader.dispose()


_NO_KEY = object()
