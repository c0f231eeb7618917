"""The decoder tests again, against a checked build: Cython's bounds checks on and
AddressSanitizer compiled in, so a read past any buffer aborts the run instead of
passing unnoticed. Builds a private copy of the package in a temporary directory (the
in-tree build is left alone) and runs the decoding and mutation tests on it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_decode.py", "tests/test_decode_properties.py", "tests/test_capture.py"]


def libasan() -> str | None:
    if not shutil.which("gcc"):
        return None
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
def test_decoder_tests_pass_on_a_bounds_checked_asan_build(tmp_path):
    asan = libasan()
    require(asan is not None, "gcc's libasan is not installed")
    work = tmp_path / "checked"
    shutil.copytree(ROOT / "ext", work / "ext", ignore=shutil.ignore_patterns("*.c", "*.so"))
    shutil.copytree(ROOT / "cnfpost", work / "cnfpost",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.py", work / "setup.py")
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    (work / "README.md").write_text("checked build\n")

    env = dict(os.environ, CNFPOST_DEBUG_CYTHON="1", CNFPOST_SANITIZE="address")
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=work,
                           env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]

    run_env = dict(os.environ, PYTHONPATH=str(work), LD_PRELOAD=asan,
                   ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
    which = subprocess.run([sys.executable, "-c", "import cnfpost._decode as d; print(d.__file__)"],
                           cwd=work, env=run_env, capture_output=True, text=True)
    assert which.returncode == 0, which.stderr[-2000:]
    assert which.stdout.strip().startswith(str(work)), which.stdout

    tests = [t for t in TESTS if (work / t).exists()]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                             *tests], cwd=work, env=run_env, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout[-4000:] + result.stderr[-4000:])
    assert " passed" in result.stdout
