"""A bounded run of the coverage-guided fuzzer (fuzz/fuzz_decode.py) on the decoder.

Hypothesis mutates valid captures in test_decode_properties.py (and again on the ASan
build in test_sanitized_build.py); libFuzzer here explores from the named test captures.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_fuzzer_finds_nothing_in_a_bounded_run(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        require(False, "atheris is not installed (pip install atheris)")
    corpus = tmp_path / "corpus"
    harness = ROOT / "fuzz" / "fuzz_decode.py"
    subprocess.run([sys.executable, str(harness), "--write-seeds", str(corpus)], check=True)
    seeds = len(list(corpus.iterdir()))
    assert seeds >= 5
    # A fixed seed makes a failure replayable: libFuzzer prints the crashing input's file.
    proc = subprocess.run([sys.executable, str(harness), "-runs=40000", "-seed=1",
                           "-max_len=4096", f"-artifact_prefix={tmp_path}/", str(corpus)],
                          capture_output=True, text=True, timeout=600)
    tail = "\n".join(line for line in proc.stderr.splitlines()
                     if not line.startswith("INFO: Instrumenting"))[-3000:]
    assert proc.returncode == 0, tail
    assert "Done 40000 runs" in proc.stderr
    assert not list(tmp_path.glob("crash-*")), tail
