"""Run a speaker with exactly the capabilities deploy/'s DaemonSet gives it.

A container that runs as root with ``drop: [ALL], add: [X]`` holds X and nothing
else. ``setpriv`` does the same to a process: its bounding set limits what root's
next program may hold. Every end-to-end speaker starts this way, so a feature that
needs a capability the manifest does not grant fails in these tests, not in a
cluster."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

SPEAKER_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "base" / "speaker.yaml"


@functools.cache
def manifest_capabilities() -> tuple[str, ...]:
    """The capabilities deploy/base/speaker.yaml adds to its container, all others
    dropped (the test fails if the manifest stops dropping them)."""
    documents = yaml.safe_load_all(SPEAKER_MANIFEST.read_text())
    (daemonset,) = [d for d in documents if d and d["kind"] == "DaemonSet"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    capabilities = container["securityContext"]["capabilities"]
    assert capabilities["drop"] == ["ALL"], "the speaker must drop every capability it does not add"
    return tuple(capabilities.get("add", ()))


def as_in_the_manifest(prefix: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``prefix`` (e.g. ``ip netns exec NODE``) and then ``setpriv`` limiting the
    program that follows to the manifest's capabilities."""
    keep = "".join(f",+{name.lower()}" for name in manifest_capabilities())
    return (*prefix, "setpriv", f"--bounding-set=-all{keep}", "--inh-caps=-all", "--")
