"""Helpers every test module may use."""
from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"


def require(ok: bool, reason: str) -> None:
    """Skip (with the reason) when a precondition is missing; in CI, fail instead.

    CI installs every tool and runs as root, so a skip there would hide a test that
    did not run: a green CI must mean the lab and the tshark checks ran.
    """
    if ok:
        return
    if IN_CI:
        pytest.fail(f"CI=true but precondition missing: {reason}")
    pytest.skip(reason)


def examples(n: int) -> int:
    """max_examples for a property test that sets its own: n here, ten times n in CI.

    An explicit @settings(max_examples=...) overrides the "ci" profile of conftest.py, so
    such tests ask this function; CI has the time to find the rare case.
    """
    return 10 * n if IN_CI else n


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    return path


def require_module(name: str):
    """Import a module the test extra provides (CI installs it: missing there is a failure).

    Usable at module level, where it skips (or fails) the whole module.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        reason = f"Python module {name} is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(f"CI=true but precondition missing: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the cnfpost command line run in this process."""
    from cnfpost.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return done.value.code, out, err


def require_root() -> None:
    require(os.geteuid() == 0, "needs root (network namespaces)")


ROOT = Path(__file__).resolve().parents[1]
# Three real runs of the first lab, with known faults (tests/data/lab_bundles/README.md).
LAB_BUNDLES = ROOT / "tests" / "data" / "lab_bundles"
