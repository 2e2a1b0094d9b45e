"""Client configuration as client-go does it: --kubeconfig, $KUBECONFIG, in-cluster,
~/.kube/config; --context; one clear line when nothing works."""

from __future__ import annotations

import argparse

import pytest
import yaml

from ironlb.cli._common import add_client_options, client_from
from ironlb.events.errors import LbError


def kubeconfig(path, *contexts: tuple[str, str]) -> str:
    """A kubeconfig with one context per (name, server URL); the first is current."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": n, "cluster": {"server": url}} for n, url in contexts],
                "users": [{"name": "u", "user": {"token": "t0ken"}}],
                "contexts": [
                    {"name": n, "context": {"cluster": n, "user": "u"}} for n, _ in contexts
                ],
                "current-context": contexts[0][0],
            }
        )
    )
    return str(path)


def host(*argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_client_options(parser)
    return client_from(parser.parse_args(argv)).configuration.host


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_the_order_is_flag_then_env_then_in_cluster_then_home(clean_env, tmp_path):
    flag = kubeconfig(tmp_path / "flag", ("a", "https://flag:6443"))
    env = kubeconfig(tmp_path / "env", ("a", "https://env:6443"))
    home = tmp_path / "home" / ".kube"
    home.mkdir(parents=True)
    kubeconfig(home / "config", ("a", "https://home:6443"))
    assert host() == "https://home:6443"
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    with pytest.raises(LbError, match="in-cluster configuration"):
        host()  # no ServiceAccount token mounted here: a clear line, not a traceback
    clean_env.setenv("KUBECONFIG", env)
    assert host() == "https://env:6443"
    assert host("--kubeconfig", flag) == "https://flag:6443"


def test_kubeconfig_lists_merge_and_context_selects(clean_env, tmp_path):
    first = kubeconfig(tmp_path / "one", ("a", "https://a:6443"))
    second = kubeconfig(tmp_path / "two", ("b", "https://b:6443"))
    clean_env.setenv("KUBECONFIG", f"{first}:{second}")
    assert host() == "https://a:6443"
    assert host("--context", "b") == "https://b:6443"
    with pytest.raises(LbError, match=r"cannot configure the Kubernetes client from .*: .*nope"):
        host("--context", "nope")


def test_api_server_overrides_the_address(clean_env, tmp_path):
    config = kubeconfig(tmp_path / "c", ("a", "https://a:6443"))
    assert host("--kubeconfig", config, "--api-server", "https://b:443") == "https://b:443"
    assert host("--api-server", "http://127.0.0.1:8001") == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda tmp: ["--kubeconfig", str(tmp / "missing")], "no such file"),
        (lambda tmp: ["--kubeconfig", str(tmp)], "a directory, not a kubeconfig file"),
        (
            lambda tmp: (tmp / "bad").write_text("{{{") and ["--kubeconfig", str(tmp / "bad")],
            "cannot configure",
        ),
        (lambda tmp: [], "no Kubernetes configuration"),
    ],
)
def test_a_missing_or_broken_configuration_is_one_clear_line(clean_env, tmp_path, setup, message):
    with pytest.raises(LbError, match=message) as raised:
        host(*setup(tmp_path))
    assert "\n" not in str(raised.value)


def test_a_kubeconfig_env_naming_no_file_says_so(clean_env, tmp_path):
    clean_env.setenv("KUBECONFIG", str(tmp_path / "nothing"))
    with pytest.raises(LbError, match="none of these files exists"):
        host()
