"""Progress bars: on stderr for a person at a terminal, never in captured output."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.unit.cli.test_cli_log import EXAMPLE


def ironlb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ironlb", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=True,
    )


def log_of_example(tmp_path) -> str:
    log = tmp_path / "log"
    ironlb("log", "import", EXAMPLE, "--to", log)
    return str(log)


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    log = log_of_example(tmp_path)
    for args in (("replay", log), ("diff", log, "--from", "3"), ("plan", log)):
        result = ironlb(*args, env={"IRONLB_PROGRESS": "auto"})
        assert result.stderr == "", args


def test_a_bar_counts_the_records_on_stderr_and_leaves_stdout_alone(tmp_path):
    log = log_of_example(tmp_path)
    quiet = ironlb("replay", log, "-o", "json")
    shown = ironlb("replay", log, "-o", "json", env={"IRONLB_PROGRESS": "always"})
    assert shown.stdout == quiet.stdout
    assert " records" in shown.stderr and log in shown.stderr
    for args in (("explain", log, "default/web"), ("plan", log), ("validate", log)):
        assert " records" in ironlb(*args, env={"IRONLB_PROGRESS": "always"}).stderr, args
    assert ironlb("replay", log, env={"IRONLB_PROGRESS": "0"}).stderr == ""


def test_plan_without_input_says_it_shows_the_bundled_example():
    result = ironlb("plan")
    assert result.stderr.startswith("ironlb: no input given: showing the bundled example cluster")
    assert "default/web" in result.stdout


def test_reading_a_manifest_draws_a_bar_for_the_parse(tmp_path):
    # log import, and plan/validate on manifests, parse the whole input first: the
    # bar follows the parser through the text (a big List takes seconds).
    quiet = ironlb("plan", EXAMPLE, "-o", "json")
    shown = ironlb("plan", EXAMPLE, "-o", "json", env={"IRONLB_PROGRESS": "always"})
    assert shown.stdout == quiet.stdout
    assert f"reading {EXAMPLE}" in shown.stderr
    imported = ironlb("log", "import", EXAMPLE, "--to", tmp_path / "log",
                      env={"IRONLB_PROGRESS": "always"})  # fmt: skip
    assert f"reading {EXAMPLE}" in imported.stderr
    assert imported.stdout.startswith("imported ")
    plain = ironlb("log", "import", EXAMPLE, "--to", tmp_path / "log2")
    assert plain.stderr == ""  # not a terminal: nothing
