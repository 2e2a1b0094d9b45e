"""The streaming YAML reader makes exactly what the composing loader makes.

``yaml_loader.load_all`` builds documents from parser events (a 16 MB List in a
fifth of the memory); the composing loader is the reference the kubectl tests
pin down. Generated YAML text, with the plain scalars where YAML 1.1 and
Kubernetes differ, anchors, aliases, tags and merge keys, must give the same
documents, or the same error, through both.
"""

from __future__ import annotations

import math

import yaml
from hypothesis import given
from hypothesis import strategies as st

from ironlb.events import yaml_loader

# Scalars as written in a file: plain ones that resolve to every type, quoted
# ones, and the YAML features the event builder hands to the full loader.
TOKENS = [
    "y", "N", "yes", "Off", "true", "FALSE", "~", "null", "", "0", "-12", "0o17", "0755",
    "0x1F", "0b101", "1_000", "1e3", "1.", "-.5", ".inf", "-.Inf", ".nan", "64512:1",
    "1234:1", "2024-01-02", "2024-01-02T03:04:05Z", "10.0.0.1/24", "fe80::1", "abc",
    "'y'", '"0755"', '"a\\tb"', "!!str 12", "!!int '7'", "&anchor 5", "*anchor",
    "! 12", "x # comment", "'multi word'", "<<",
]  # fmt: skip
KEYS = ["a", "name", "y", "1", "~", "on", "'q'", "<<", "1.5", "true", "64512:1"]


def _block(value, indent: int) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        out = "\n"
        for key, item in value.items():
            out += f"{pad}{key}:{_block(item, indent + 2)}"
        return out
    if isinstance(value, list):
        if not value:
            return " []\n"
        return "\n" + "".join(f"{pad}-{_block(item, indent + 2)}" for item in value)
    return f" {value}\n"


def _flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return value


trees = st.recursive(
    st.sampled_from(TOKENS),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def yaml_streams(draw) -> str:
    documents = []
    for tree in draw(st.lists(trees, min_size=1, max_size=3)):
        if draw(st.booleans()) and isinstance(tree, dict | list):
            documents.append(_flow(tree) + "\n")
        else:
            documents.append(_block(tree, 0).lstrip("\n") if isinstance(tree, dict | list)
                             else f"{tree}\n")  # fmt: skip
    return "---\n".join(documents)


def _outcome(documents):
    try:
        return "ok", _comparable(list(documents))
    except yaml.YAMLError as exc:
        return "error", type(exc).__name__, str(exc)
    except (ValueError, TypeError) as exc:  # a constructor's own error, e.g. int("0o8")
        return "error", type(exc).__name__, str(exc)


def _comparable(value):
    """NaN is not equal to itself; compare it by name."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return value


@given(yaml_streams())
def test_event_builder_makes_what_the_composing_loader_makes(text):
    assert _outcome(yaml_loader.load_all(text)) == _outcome(yaml_loader._composed_documents(text))


@given(st.lists(st.sampled_from(TOKENS[:30]), min_size=1, max_size=6))
def test_a_stream_that_turns_to_the_full_loader_late_loses_no_document(values):
    # Documents before an alias came from the builder; those after it from the
    # full loader; none twice, none missing.
    text = "---\n".join([f"a: {v}\n" for v in values] + ["b: &x 1\nc: *x\n"])
    documents = list(yaml_loader.load_all(text))
    assert len(documents) == len(values) + 1
    assert documents[-1] == {"b": 1, "c": 1}
    assert _comparable(documents) == _comparable(list(yaml_loader._composed_documents(text)))
