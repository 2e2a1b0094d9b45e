"""The Dockerfile, checked where no container engine runs: pinned bases, a lock of
exact versions that satisfies pyproject's dependencies, non-root, one entry point."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [tuple(line.split(None, 1)) for line in lines if not line.startswith("#")]


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_base_images_are_pinned_to_a_release():
    bases = [arg.split()[0] for op, arg in instructions() if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", b) for b in bases)


def test_the_image_runs_as_nobody_with_the_one_entry_point():
    ops = dict(instructions()[::-1])  # the last of each instruction wins
    assert ops["USER"] == "65534:65534"
    assert ops["ENTRYPOINT"] == '["ironlb"]'


def test_the_lock_pins_every_runtime_dependency_to_a_version_it_allows():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock()
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {text}"


def test_the_final_stage_installs_offline_from_the_built_wheels():
    runs = [arg for op, arg in instructions() if op == "RUN"]
    assert "--no-index" in runs[-1] and "-r requirements.lock" in runs[0]


def test_every_package_under_src_is_shipped():
    """A subpackage missing from pyproject works in an editable install and breaks
    `pip install .` (and the image): every folder with an __init__.py is listed."""
    shipped = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        "ironlb" + "".join(f".{part}" for part in init.parent.relative_to(ROOT / "src").parts)
        for init in (ROOT / "src").rglob("__init__.py")
    }
    assert found <= shipped, found - shipped
