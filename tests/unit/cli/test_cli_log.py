"""The log commands through the real entry point, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ironlb.store import open_store

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cluster.yaml"
# Every document of the example is one event; counted, so the example can grow.
EXAMPLE_EVENTS = sum(1 for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc)


def ironlb(*args, stdin=None, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "ironlb", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ironlb {args} exited {result.returncode}: {result.stderr}")
    return result


def test_console_script_prints_version_and_help():
    script = shutil.which("ironlb")
    assert script, "the ironlb console script is not installed"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("ironlb ")
    helptext = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "log" in helptext.stdout


def test_import_then_show_the_example(tmp_path):
    log = tmp_path / "log"
    out = ironlb("log", "import", EXAMPLE, "--to", log).stdout
    assert out.startswith(f"imported {EXAMPLE_EVENTS} events")
    table = ironlb("log", "show", log).stdout.splitlines()
    assert table[0].split()[:5] == ["SEQ", "OBSERVED", "SOURCE", "TYPE", "KIND"]
    assert len(table) == EXAMPLE_EVENTS + 1
    services = ironlb("log", "show", log, "--kind", "Service", "-o", "json").stdout.splitlines()
    assert len(services) == 8
    first = json.loads(services[0])
    assert first["kind"] == "v1/Service" and first["key"] == "default/web"
    assert first["object"]["spec"]["type"] == "LoadBalancer"
    ranged = ironlb("log", "show", log, "--from", 3, "--until", 5, "-o", "json").stdout
    assert [json.loads(line)["seq"] for line in ranged.splitlines()] == [3, 4, 5]


def test_log_show_json_reimports(tmp_path):
    ironlb("log", "import", EXAMPLE, "--to", tmp_path / "a")
    dump = ironlb("log", "show", tmp_path / "a", "-o", "json").stdout
    ironlb("log", "import", "-", "--to", tmp_path / "b", stdin=dump)
    with (
        open_store(str(tmp_path / "a"), readonly=True) as a,
        open_store(str(tmp_path / "b"), readonly=True) as b,
    ):
        assert [(r.kind, r.key, r.object) for r in a.read()] == [
            (r.kind, r.key, r.object) for r in b.read()
        ]


def test_stats_counts_kinds(tmp_path):
    ironlb("log", "import", EXAMPLE, "--to", tmp_path / "log")
    stats = json.loads(ironlb("log", "stats", tmp_path / "log", "-o", "json").stdout)
    assert stats["events"] == EXAMPLE_EVENTS
    assert stats["first_seq"] == 1 and stats["last_seq"] == EXAMPLE_EVENTS
    assert stats["kinds"]["v1/Service"] == 8
    assert stats["segments"] == 1 and stats["bytes"] > 1000
    assert "segments: 1" in ironlb("log", "stats", tmp_path / "log").stdout


def test_copy_keeps_seqs_and_refuses_a_full_destination(tmp_path):
    source = f"file://{tmp_path}/src"
    ironlb("log", "import", EXAMPLE, "--to", source)
    ironlb("log", "copy", source, tmp_path / "dst")
    with (
        open_store(source, readonly=True) as a,
        open_store(str(tmp_path / "dst"), readonly=True) as b,
    ):
        assert list(a.read()) == list(b.read())
    again = ironlb("log", "copy", source, tmp_path / "dst", check=False)
    assert again.returncode == 2
    assert "copy into an empty log" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["log", "import", "missing.yaml", "--to", "{tmp}/l"], "missing.yaml: cannot read"),
        (["log", "show", "{tmp}/nowhere"], "no log at"),
        (["log", "show", "file://{tmp}/l?fsync=maybe"], "fsync='maybe'"),
        (["log", "import", "{tmp}/bad.yaml", "--to", "{tmp}/l"], "bad.yaml: document 1"),
        (["log", "show", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
    ],
)
def test_user_mistakes_print_one_line_and_no_traceback(tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {}\n")
    result = ironlb(*[a.format(tmp=tmp_path) for a in args], check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_locked_log_is_reported(tmp_path):
    with open_store(str(tmp_path / "l")):
        result = ironlb("log", "import", EXAMPLE, "--to", tmp_path / "l", check=False)
    assert result.returncode == 2
    assert "one writer" in result.stderr


def test_bad_arguments_exit_2_with_usage():
    result = ironlb("log", "show", check=False)
    assert result.returncode == 2
    assert "usage:" in result.stderr
