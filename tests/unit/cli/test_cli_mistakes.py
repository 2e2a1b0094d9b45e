"""Any command with any mistaken arguments ends in one clear line, never a traceback.

Hypothesis drives the offline commands with arguments drawn from what users get
wrong: files where directories are expected and the reverse, paths that cannot
exist or be written, logs that are manifests, wrong numbers, unknown URLs, stray
flags. Whatever comes out, the command exits 0, 1 or 2, prints no traceback, and
when it fails its last line on stderr says what is wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ironlb.cli import main
from tests.k8s import pool, service

# Each command with the positional arguments it takes and the options it knows:
# most drawn command lines parse, so the commands themselves meet the mistakes.
COMMANDS = {
    ("plan",): (1, ["--with", "--node", "--speakers", "--lb-class", "-o"]),
    ("validate",): (1, ["--namespace", "-o"]),
    ("replay",): (1, ["--from", "--until", "--verify", "--node", "-o"]),
    ("diff",): (1, ["--from", "--to", "--node", "-o"]),
    ("explain",): (2, ["--at", "--node", "-o"]),
    ("convert",): (1, ["--namespace"]),
    ("log", "show"): (1, ["--from", "--until", "-o"]),
    ("log", "stats"): (1, []),
    ("log", "import"): (1, ["--to", "--replace", "--namespace"]),
    ("log", "copy"): (2, []),
}
SWITCHES = {"--verify", "--replace"}  # options without a value


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mistakes")
    (root / "empty").mkdir()
    (root / "cwd").mkdir()
    (root / "a-file").write_text("not yaml: [\n")
    (root / "pool.yaml").write_text(json.dumps(pool("lan", "192.0.2.0/24")))
    (root / "svc.json").write_text(json.dumps(service("web")))
    (root / "binary.bin").write_bytes(bytes(range(256)))
    assert main(["log", "import", str(root / "svc.json"), "--to", str(root / "log")]) == 0
    return root


def values(root: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                str(root / "empty"),
                str(root / "a-file"),
                str(root / "pool.yaml"),
                str(root / "svc.json"),
                str(root / "binary.bin"),
                str(root / "log"),
                str(root / "a-file" / "under-a-file"),
                str(root / "missing" / "deeper"),
                "/proc/ironlb-log",
                "/",
                "file:///",
                "file://relative/path",
                "memory://",
                "redis://127.0.0.1:9/0",
                "ftp://example.com/log",
                "-",
                "",
                "0",
                "-1",
                "99999999999999999999",
                "1e9",
                "10m",
                "yesterday",
                "json",
                "yaml",
                "default/web",
                "ünïcödé",
            ]
        ),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mistaken_command_line_ends_in_one_clear_line(sandbox, data):
    command = data.draw(st.sampled_from(sorted(COMMANDS)))
    positional, known = COMMANDS[command]
    arguments = data.draw(st.lists(values(sandbox), min_size=positional, max_size=positional))
    for flag in data.draw(st.lists(st.sampled_from(known), max_size=3)) if known else []:
        arguments += [flag] if flag in SWITCHES else [flag, data.draw(values(sandbox))]
    out, err = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO("")  # "-" reads an empty standard input
    cwd = os.getcwd()
    os.chdir(sandbox / "cwd")  # relative paths land in the sandbox, not the clone
    try:
        with contextlib.redirect_stderr(err):
            code = main([*command, *arguments], out)
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code
    finally:
        sys.stdin = stdin
        os.chdir(cwd)
    stderr = err.getvalue()
    assert "Traceback" not in stderr and "Traceback" not in out.getvalue()
    assert "internal error" not in stderr, stderr
    assert code in (0, 1, 2), (code, stderr)
    if code == 2:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        assert last.startswith("ironlb") and "error" in last, stderr
