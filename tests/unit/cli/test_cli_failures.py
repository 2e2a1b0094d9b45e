"""The failures a new user met, each one line and the right exit code (issue 17)."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from ironlb.cli import main
from tests.k8s import service

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv), out)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "svc.json"
    path.write_text(json.dumps(service("web")))
    return str(path)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("a-file", "is a file, not a log directory"),
        ("a-file/under", "Not a directory"),
        ("/proc/ironlb-log", "cannot create the log at /proc/ironlb-log"),
    ],
)
def test_log_import_to_where_no_log_can_be(tmp_path, manifest, target, message):
    (tmp_path / "a-file").write_text("x")
    destination = target if target.startswith("/") else str(tmp_path / target)
    code, _out, err = run("log", "import", manifest, "--to", destination)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_log_copy_onto_a_file(tmp_path, manifest):
    assert run("log", "import", manifest, "--to", str(tmp_path / "log"))[0] == 0
    (tmp_path / "a-file").write_text("x")
    code, _out, err = run("log", "copy", str(tmp_path / "log"), str(tmp_path / "a-file"))
    assert code == 2 and "is a file, not a log directory" in err


def test_webhook_with_cert_manager_and_no_certificate(tmp_path):
    code, _out, err = run(
        "webhook", "--cert-manager", "--cert-dir", str(tmp_path), "--api-server", UNREACHABLE
    )
    assert code == 2 and "no tls.crt or tls.key in" in err and "Traceback" not in err


def test_webhook_with_an_unreachable_api_server(tmp_path):
    code, _out, err = run("webhook", "--api-server", UNREACHABLE, "--cert-dir", str(tmp_path))
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("ironlb: error: the Kubernetes API: cannot connect")


def test_record_from_an_unreachable_api_server_fails(tmp_path):
    code, out, err = run(
        "record", "--api-server", UNREACHABLE, "--to", str(tmp_path / "rec"), "--duration", "0.5"
    )
    assert code == 1 and "recorded 0 events" in out
    assert err.strip().splitlines()[-1].startswith("ironlb: error: never listed services")


def test_an_error_is_one_line_whatever_the_path_holds(tmp_path):
    code, _out, err = run("validate", str(tmp_path / "new\nline"))
    assert code == 2 and err.count("\n") == 1 and "new\\nline" in err


@pytest.fixture
def log_dir(tmp_path, manifest):
    assert run("log", "import", manifest, "--to", str(tmp_path / "log"))[0] == 0
    return str(tmp_path / "log")


def test_explain_of_what_is_not_in_the_log_says_so(log_dir):
    code, _out, err = run("explain", log_dir, "default/nope")
    assert code == 1 and "no Service default/nope in" in err
    code, _out, err = run("explain", log_dir, "default/web", "--node", "nowhere")
    assert code == 1 and "no node nowhere in" in err


def test_replay_of_a_manifest_says_it_is_not_a_log(manifest):
    code, _out, err = run("replay", manifest)
    assert code == 2 and "is a file, not a log" in err and f"ironlb plan {manifest}" in err


def test_verifying_a_log_without_digests_is_not_a_pass(log_dir):
    code, _out, err = run("replay", log_dir, "--verify")
    assert code == 1 and "holds no plan digest" in err


@pytest.mark.parametrize("command", [["replay"], ["log", "show"]])
def test_from_past_the_end_is_an_error(log_dir, command):
    code, _out, err = run(*command, log_dir, "--from", "99")
    assert code == 2 and "--from 99 is past the end of the log (its last seq is 1)" in err


def test_counts_read_as_english(tmp_path, manifest):
    _code, out, _err = run("log", "import", manifest, "--to", str(tmp_path / "one"))
    assert out.startswith("imported 1 event into")


def test_log_import_warns_of_what_the_api_server_would_refuse_and_keeps_it(tmp_path):
    path = tmp_path / "pool.yaml"
    path.write_text(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\n"
        "metadata: {name: lan, namespace: metallb-system}\n"
        "spec: {addresses: [192.0.2.0/24], autoassign: false}\n"
    )
    for extra in ([], ["--replace"]):
        code, out, err = run("log", "import", str(path), "--to", str(tmp_path / "log"), *extra)
        assert code == 0 and out.startswith("imported")
        assert "warning:" in err and "spec.autoassign: unknown field" in err


def test_a_directory_that_is_no_log_is_not_read_as_an_empty_one(tmp_path, manifest):
    code, _out, err = run("log", "show", str(tmp_path))  # holds svc.json: manifests
    assert code == 2 and "is not a log" in err and "ironlb plan" in err
