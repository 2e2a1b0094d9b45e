"""Shared test setup: Hypothesis profiles and small helpers.

Profiles: ``ci`` (derandomized, a few hundred examples per property, the default)
and ``hunt`` (random and deep, on demand: ``HYPOTHESIS_PROFILE=hunt pytest tests/property``).
Whatever ``hunt`` finds becomes a fixed ``@example`` or a unit test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.redis_server import redis_server  # noqa: F401 - a fixture for every test module

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "hunt",
    max_examples=5000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
