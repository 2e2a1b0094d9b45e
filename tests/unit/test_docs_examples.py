"""The docs' example manifests are valid configuration (examples that rot fail CI):
metallb.io objects pass ``ironlb validate``, legacy ConfigMaps ``ironlb convert``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from ironlb.cli import main

ROOT = Path(__file__).parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for number, text in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            text = re.sub(r"^ {3}", "", text, flags=re.M) if text.startswith("   ") else text
            if "apiVersion: metallb.io" in text or "kind: ConfigMap" in text:
                found.append((f"{page.name}#{number}", text))
    return found


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out), out.getvalue()


def test_the_docs_have_examples_to_check():
    names = [name for name, _ in blocks()]
    assert any(n.startswith("installation.md") for n in names)
    assert any(n.startswith("bgp.md") for n in names)


@pytest.mark.parametrize("name,text", blocks(), ids=[name for name, _ in blocks()])
def test_a_docs_example_is_valid(tmp_path, name, text):
    example = tmp_path / "example.yaml"
    example.write_text(text)
    if "kind: ConfigMap" in text:
        code, converted = run("convert", str(example))
        assert code == 0, name
        example.write_text(converted)
    assert run("validate", str(example)) == (0, "configuration is valid\n"), name
