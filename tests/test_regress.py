"""cnfpost regress: golden reports, what counts as a regression, the listing, --update,
and the project's own goldens in sample_data/."""
from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnfpost.inputs.bundle import find_bundles
from cnfpost.regress import MISSING, Tolerance, compare, normalize, regress
from tests.support import require, require_module, run_cli

LAB = Path(__file__).resolve().parent / "data" / "lab_bundles"
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"




@pytest.fixture
def golden(tmp_path, capsys):
    """A golden dir holding the tls_retrans lab bundle, with goldens made by --update."""
    root = tmp_path / "golden"
    shutil.copytree(LAB / "tls_retrans", root / "tls_retrans")
    code, out, _ = run_cli(["regress", str(root), "--update"], capsys)
    assert code == 0 and out.startswith(f"created   {root}/tls_retrans\n")
    return root


def stored(root: Path) -> dict:
    return orjson.loads((root / "tls_retrans" / "expected" / "report.json").read_bytes())


def store(root: Path, report: dict) -> None:
    (root / "tls_retrans" / "expected" / "report.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2))


def test_identical_is_exit_0(golden, capsys):
    code, out, err = run_cli(["regress", str(golden)], capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == f"ok        {golden}/tls_retrans"
    assert out.splitlines()[-1].startswith("1 golden bundle(s), 0 failing; timings (*_ms) "
                                           "within max(1 ms, 5 %)")


def test_update_writes_both_goldens(golden):
    report = stored(golden)
    assert "l4.retransmissions" in [f["code"] for f in report["findings"]]
    md = golden / "tls_retrans" / "expected" / "report.md"
    try:
        from cnfpost.report.render import markdown
    except ImportError:
        assert not md.exists()
    else:
        assert md.read_text() == markdown(report)


def test_a_changed_finding_code_is_exit_1_with_a_readable_diff(golden, capsys):
    report = stored(golden)
    first = report["findings"][0]
    assert first["code"] == "l4.retransmissions" and first["severity"] == "critical"
    first["code"] = "l4.reordering"
    store(golden, report)
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"regressed {golden}/tls_retrans"
    assert lines[1:3] == [f"--- {golden}/tls_retrans/expected/report.json", "+++ fresh analysis"]
    removed = lines.index("@@ /findings/l4.reordering (removed) @@")
    assert lines[removed + 1] == f"- l4.reordering [critical] {first['message']}"
    added = lines.index("@@ /findings/l4.retransmissions (added) @@")
    assert lines[added + 1] == f"+ l4.retransmissions [critical] {first['message']}"
    assert lines[-1].startswith("1 golden bundle(s), 1 failing")


@pytest.mark.parametrize("stored_version, failing", [("1.1", True), ("2.7", False)])
def test_a_major_schema_change_is_one_line_not_a_diff(golden, capsys, stored_version, failing):
    report = stored(golden)
    report["schema_version"] = stored_version
    store(golden, report)
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    lines = out.splitlines()
    if failing:
        assert code == 1 and len(lines) == 2
        assert lines[0] == (f"regressed {golden}/tls_retrans (the golden has report schema "
                            f"{stored_version}, this cnfpost writes 2.0: check a fresh report, "
                            "then --update)")
    else:   # only a minor version apart: compared key by key as usual, and nothing differs
        assert code == 0 and lines[0].startswith(f"ok        {golden}/tls_retrans")


def test_a_changed_grade_and_count_are_regressions(golden, capsys):
    report = stored(golden)
    grade = report["layered_analysis"]["l4"]["quality"]
    report["layered_analysis"]["l4"]["quality"] = "excellent" if grade != "excellent" else "good"
    retrans = report["flows"][0]["retransmissions"]
    report["flows"][0]["retransmissions"] += 1
    store(golden, report)
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    assert code == 1
    wrong = report["layered_analysis"]["l4"]["quality"]
    assert f'@@ /layered_analysis/l4/quality (exact) @@\n- "{wrong}"\n+ "{grade}"\n' in out
    assert f"@@ /flows/0/retransmissions (exact) @@\n- {retrans + 1}\n+ {retrans}\n" in out


def test_a_timing_within_tolerance_passes_and_beyond_fails(golden, capsys):
    report = stored(golden)
    ttfb = report["layered_analysis"]["l7"]["metrics"]["ttfb_median_ms"]
    assert ttfb > 20  # so that 5 % of it is above the 1 ms floor
    report["layered_analysis"]["l7"]["metrics"]["ttfb_median_ms"] = round(ttfb * 1.04, 3)
    store(golden, report)
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    assert code == 0
    assert out.splitlines()[0] == (f"ok        {golden}/tls_retrans "
                                   "(1 difference(s) within tolerance)")

    report["layered_analysis"]["l7"]["metrics"]["ttfb_median_ms"] = round(ttfb * 1.06, 3)
    store(golden, report)
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    assert code == 1
    allowed = 0.05 * round(ttfb * 1.06, 3)
    assert (f"@@ /layered_analysis/l7/metrics/ttfb_median_ms (timing: ±{allowed:.3f} ms) @@\n"
            f"- {round(ttfb * 1.06, 3)}\n+ {ttfb}\n") in out


def test_update_round_trip(golden, capsys):
    report = stored(golden)
    grade = report["overall"]["grade"]
    report["overall"]["grade"] = "excellent" if grade != "excellent" else "good"
    store(golden, report)
    assert run_cli(["regress", str(golden)], capsys)[0] == 1
    code, out, _ = run_cli(["regress", str(golden), "--update"], capsys)
    assert code == 0 and out.startswith(f"updated   {golden}/tls_retrans")
    assert stored(golden)["overall"]["grade"] == grade
    assert run_cli(["regress", str(golden)], capsys)[0] == 0
    code, out, _ = run_cli(["regress", str(golden), "--update"], capsys)
    assert out.startswith(f"unchanged {golden}/tls_retrans")


def test_goldens_do_not_depend_on_where_the_bundle_lives(tmp_path, capsys):
    root = tmp_path / "here"
    shutil.copytree(LAB / "clean", root / "clean")
    (root / "clean" / "manifest.json").write_text("{")  # a warning that names the file
    assert run_cli(["regress", str(root), "--update"], capsys)[0] == 0
    text = (root / "clean" / "expected" / "report.json").read_text()
    assert str(tmp_path) not in text
    assert '"manifest.json: line 1: expected valid JSON' in text
    moved = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(root, moved)
    assert run_cli(["regress", str(moved)], capsys)[0] == 0


def test_missing_golden_is_exit_1_and_no_bundles_is_exit_2(tmp_path, capsys):
    shutil.copytree(LAB / "clean", tmp_path / "g" / "clean")
    code, out, _ = run_cli(["regress", str(tmp_path / "g")], capsys)
    assert code == 1
    assert out.splitlines()[0] == (f"missing   {tmp_path}/g/clean (no expected/report.json: run "
                                   "`cnfpost regress --update` after checking the report)")
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli(["regress", str(tmp_path / "empty")], capsys)
    assert code == 2 and out == ""
    assert err == f"{tmp_path / 'empty'}: expected run bundles with expected/ reports, got none\n"


def test_a_bundle_that_no_longer_analyses_is_a_failure(golden, capsys):
    (golden / "tls_retrans" / "capture.pcap").write_bytes(b"garbage!")
    code, out, _ = run_cli(["regress", str(golden)], capsys)
    assert code == 1
    assert out.splitlines()[0].startswith(f"error     {golden}/tls_retrans (the analysis failed: ")


# ----------------------------------------------------------------------------------------
# compare and normalize (pure)
# ----------------------------------------------------------------------------------------

def failing(expected, actual) -> list[str]:
    return [d.pointer for d in compare(expected, actual) if not d.within]


def test_whole_numbers_strings_and_shapes_are_exact():
    assert failing({"n": 5}, {"n": 6}) == ["/n"]
    assert failing({"v": "ok"}, {"v": "okay"}) == ["/v"]
    assert failing({"a": [1, 2]}, {"a": [1, 2, 3]}) == ["/a/2"]
    assert failing({"a": 1}, {"a": 1, "b": None}) == ["/b"]
    assert failing({"x": True}, {"x": 1}) == ["/x"]
    assert failing({"tool": {"version": "0.1.0"}}, {"tool": {"version": "0.2.0"}}) == []


def test_numbers_by_kind():
    assert failing({"d_ms": 10.0}, {"d_ms": 10.9}) == []           # 1 ms floor
    assert failing({"d_ms": 10.0}, {"d_ms": 11.1}) == ["/d_ms"]
    assert failing({"d_ms": 400.0}, {"d_ms": 419.0}) == []         # 5 %
    assert failing({"d_ms": 400.0}, {"d_ms": 421.0}) == ["/d_ms"]
    assert failing({"duration_ms": {"median": 3.0}}, {"duration_ms": {"median": 3.5}}) == []
    assert failing({"start_s": 1.7e9}, {"start_s": 1.7e9 + 0.0005}) == []
    assert failing({"start_s": 1.7e9}, {"start_s": 1.7e9 + 0.01}) == ["/start_s"]
    assert failing({"rate_pct": 9.091}, {"rate_pct": 9.3}) == []
    assert failing({"rate_pct": 9.091}, {"rate_pct": 9.6}) == ["/rate_pct"]
    assert failing({"frames_ms": [5]}, {"frames_ms": [6]}) == ["/frames_ms/0"]  # ints: exact


def test_text_whole_numbers_exact_decimals_as_timings():
    base = "5 retransmission(s) made it 57.1 ms instead of about 20.5 ms"
    assert failing({"m": base}, {"m": base.replace("57.1", "57.9")}) == []
    assert failing({"m": base}, {"m": base.replace("57.1", "67.1")}) == ["/m"]
    assert failing({"m": base}, {"m": base.replace("5 retr", "6 retr")}) == ["/m"]
    assert failing({"m": base}, {"m": base.replace("about", "roughly")}) == ["/m"]


def test_findings_are_matched_by_code_not_position():
    a = [{"code": "x", "severity": "info"}, {"code": "y", "severity": "warning"}]
    b = [{"code": "y", "severity": "critical"}]
    diffs = compare({"findings": a}, {"findings": b})
    assert [(d.pointer, d.actual is MISSING) for d in diffs] == [("/findings/x", True),
                                                                ("/findings/y/severity", False)]


def test_normalize_replaces_the_bundle_path_everywhere(tmp_path):
    report = {"warnings": [f"{tmp_path}/b/timings.jsonl: line 2: expected x, got y"],
              "nested": {"list": [f"see {tmp_path}/b/mtr.json"]}, "n": 3}
    assert normalize(report, tmp_path / "b") == {
        "warnings": ["<bundle>/timings.jsonl: line 2: expected x, got y"],
        "nested": {"list": ["see <bundle>/mtr.json"]}, "n": 3}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20)


@given(JSON)
def test_a_report_equals_itself(value):
    assert compare(value, value) == []
    assert compare({"findings": [{"code": "c", "v": value}]},
                   {"findings": [{"code": "c", "v": value}]}) == []


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=-0.99, max_value=0.99))
def test_timing_rule_is_max_of_floor_and_share(value, move):
    tol = Tolerance()
    allowed = max(tol.ms_abs, tol.rel * value)
    actual = value + move * allowed
    assert failing({"t_ms": value}, {"t_ms": actual}) == []


# ----------------------------------------------------------------------------------------
# The project's own goldens
# ----------------------------------------------------------------------------------------

def test_sample_data_matches_its_goldens():
    """What CI runs: any change in what cnfpost says about a known capture fails here,
    and `cnfpost regress sample_data --update` shows it in review."""
    bundles = find_bundles(SAMPLE_DATA) if SAMPLE_DATA.is_dir() else []
    require(bool(bundles) and all((b / "expected" / "report.json").is_file() for b in bundles),
            "sample_data/ has no golden reports yet (cnfpost regress sample_data --update)")
    results = regress(SAMPLE_DATA)
    from cnfpost.regress import format_result

    assert [r.status for r in results] == ["ok"] * len(results), \
        "".join(format_result(r) for r in results)


def test_sample_data_goldens_fit_the_report_schema():
    """A golden is a report: what review approves must still be a valid one."""
    require_module("jsonschema")
    from cnfpost.report import schema

    goldens = sorted(SAMPLE_DATA.glob("*/expected/report.json"))
    require(bool(goldens), "sample_data/ has no golden reports yet "
                           "(cnfpost regress sample_data --update)")
    for path in goldens:
        schema.validate(orjson.loads(path.read_bytes()))
