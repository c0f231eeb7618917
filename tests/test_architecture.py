"""Each fact is computed once per analysis (issue: "every fact computed once"): the stages
that build a fact are counted while a whole bundle is analysed."""
from __future__ import annotations

from pathlib import Path

import pytest

import cnfpost.cause
import cnfpost.facts
import cnfpost.pipeline
import cnfpost.repairs
import cnfpost.stalls
from cnfpost import analyze
from cnfpost.inputs import registry
from cnfpost.inputs.bundle import PRIMARY

BUNDLE = Path(__file__).resolve().parents[1] / "sample_data" / "tls_drop"

# (module whose name is looked up at call time, function name)
ONCE = [
    (cnfpost.pipeline, "assess_path"),
    (cnfpost.pipeline, "path_vs_handshake"),
    (cnfpost.pipeline, "build_facts"),
    (cnfpost.pipeline, "explain"),
    (cnfpost.facts, "classify_repairs"),
    (cnfpost.facts, "find_stalls"),
    (cnfpost.facts, "find_blackholes"),
    (cnfpost.pipeline, "load_all"),
]


@pytest.mark.parametrize("module, name", ONCE, ids=[n for _, n in ONCE])
def test_fact_is_computed_once_per_analysis(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    analyze(BUNDLE)
    assert len(calls) == 1


def test_every_input_kind_is_declared_once():
    names = [k.name for k in registry.INPUT_KINDS]
    files = [f for k in registry.INPUT_KINDS for f in k.files]
    assert len(names) == len(set(names)) and len(files) == len(set(files))
    # the bundle reader's notion of a bundle comes from the registry, not its own list
    assert set(PRIMARY) == {f for k in registry.INPUT_KINDS if k.primary for f in k.files}


def test_report_inputs_section_lists_every_kind():
    report = analyze(BUNDLE)
    assert set(report["inputs"]) >= {k.name for k in registry.INPUT_KINDS}
    assert report["inputs"]["missing"] == []
