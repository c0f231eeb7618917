"""Shared test settings.

Hypothesis never uses deadlines here: timing is never an assertion. Tests that need a
tool or root call :func:`tests.support.require`, which skips with the stated reason on a
developer's machine and fails in CI (CI=true), where everything must be present.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "cnfpost",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("ci", parent=settings.get_profile("cnfpost"), max_examples=200)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "cnfpost")
