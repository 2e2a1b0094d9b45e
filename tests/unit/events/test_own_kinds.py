"""The registry of ironlb's own record kinds: one spelling for writers, folds and tools."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ironlb.events import own_kinds
from ironlb.events.record import identity_of

SRC = Path(own_kinds.__file__).resolve().parents[1]


def test_a_kind_registered_twice_is_an_error():
    with pytest.raises(ValueError, match="'ProcessIdentity' is registered twice"):
        own_kinds.register("ProcessIdentity", "again")


def test_record_kinds_name_the_object_the_folds_look_up():
    for kind in own_kinds.registered():
        assert identity_of(kind.record_kind, "k") == kind.identity("k")
        assert own_kinds.own_kind("ironlb.io", kind.name) is kind
    assert own_kinds.own_kind("metallb.io", "ProcessIdentity") is None


def test_no_module_spells_an_own_kind_itself():
    """A second spelling once made a fold ignore what a process recorded."""
    names = "|".join(kind.name for kind in own_kinds.registered())
    spelled = re.compile(rf"""["'](ironlb\.io/v1/)?({names})["']""")
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if path.name != "own_kinds.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert offenders == []
