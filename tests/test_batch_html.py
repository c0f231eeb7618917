"""summary.html of cnfpost batch: the trends drawn in headless chromium, with the planted
outlier and path change marked, and the index's RTT column."""
from __future__ import annotations

import re

import pytest

from cnfpost.batch import run_batch
from tests.batch_archive import make_archive
from tests.test_html_report import check_page, render, self_contained


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch-html")
    plan = make_archive(root / "archive", runs=12, outlier_run=9, path_change_at=6,
                        silent_hop_run=3, capture_runs=(0,), tar_runs=0)
    out = root / "out"
    return plan, out, run_batch(plan.root, out, jobs=1)


def test_summary_html_marks_the_planted_outlier_and_path_change(batch_out):
    plan, out, result = batch_out
    page = (out / "summary.html").read_text(encoding="utf-8")
    self_contained(page)
    outlier, changed = plan.run_id(plan.outlier_run), plan.run_id(plan.path_change_at)
    stands_out = re.findall(r"<title>([^<]*) stands out", page)
    assert stands_out and {t.split(":")[0] for t in stands_out} == {outlier}
    assert set(re.findall(r"<title>path change at ([^:]+):", page)) == {changed}
    assert all(r["rtt_ms"] is not None for r in result.rows if r["status"] == "ok")


def test_summary_html_renders_every_graph_in_chromium(batch_out, tmp_path):
    _, out, _ = batch_out
    page = tmp_path / "summary.html"
    page.write_bytes((out / "summary.html").read_bytes())
    attrs, log = render(page, tmp_path)
    check_page(attrs, log, {"group-0-phases", "group-0-rtt"})
