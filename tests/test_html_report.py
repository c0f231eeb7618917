"""The HTML report: self-contained, and every graph drawn by a real browser (headless
chromium) without a script error; a screenshot is kept in the test's tmp_path."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import cnfpost
from cnfpost.report import svg
from cnfpost.report.html import html
from tests.support import LAB_BUNDLES, require_tool, run_cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def browser() -> str:
    return require_tool("chromium")


def render(page: Path, tmp_path: Path) -> tuple[dict, str]:
    """(the page check's attributes, chromium's log) after loading ``page``; a screenshot
    lands beside it."""
    exe = browser()
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
             "--v=0", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    shot = subprocess.run(flags + ["--window-size=1100,2400",
                                   f"--screenshot={page.with_suffix('.png')}", page.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert page.with_suffix(".png").stat().st_size > 0, shot.stderr[-2000:]
    tag = re.search(r'<div id="page-check"[^>]*>', dom.stdout)
    assert tag, dom.stderr[-2000:]
    attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', tag.group(0)))
    return attrs, dom.stderr + shot.stderr


def check_page(attrs: dict, log: str, expected: set[str]) -> None:
    assert attrs.get("data-done") == "1"
    assert attrs.get("data-errors") == "", attrs.get("data-errors")
    assert "Uncaught" not in log and "CONSOLE" not in log, log[-2000:]
    drawn = {}
    for item in attrs["data-graphs"].split():
        gid, laid_out, points = item.rsplit(":", 2)
        drawn[gid] = (int(laid_out), int(points))
    assert expected <= set(drawn), expected - set(drawn)
    for gid, (laid_out, points) in drawn.items():
        assert laid_out > 0 and points > 0, gid


def self_contained(page: str) -> None:
    """Nothing to fetch: no external script, style, image or font, no link off the page."""
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert not re.search(r"\bsrc=", page)
    assert not re.search(r"url\(|@import", page)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))


@pytest.mark.parametrize("name", ["tls_drop", "path_loss", "slow_server"])
def test_page_renders_every_graph_in_chromium(name, tmp_path, capsys):
    page = tmp_path / f"{name}.html"
    code, _, err = run_cli(["analyze", str(SAMPLES / name), "-q", "--html", str(page)], capsys)
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    self_contained(text)
    report = cnfpost.analyze(SAMPLES / name)
    expected = {f"sample-{s['index']}" for s in report["samples"]} | {"rtt", "throughput",
                                                                        "path", "path-loss"}
    attrs, log = render(page, tmp_path)
    check_page(attrs, log, expected)


def test_every_finding_links_to_a_drawn_graph_and_shows_its_filter():
    report = cnfpost.analyze(SAMPLES / "path_loss")
    page = report.to_html()
    ids = set(re.findall(r'<svg class="graph" id="([^"]+)"', page))
    blocks = re.findall(r'<div class="finding[^"]*" id="finding-\d+">(.*?)</div>', page, re.S)
    assert len(blocks) == len(report["findings"])
    for block in blocks:
        target = re.search(r'href="#([^"]+)" class="graph-link"', block).group(1)
        assert target in ids
    for f in report["findings"]:
        if f["evidence"]["display_filter"]:
            flt = f["evidence"]["display_filter"].replace("&", "&amp;").replace('"', "&quot;")
            assert flt in page
    # the retransmissions are drawn on their connection's time-sequence graph
    retrans = next(f for f in report["findings"] if f["code"] == "l4.retransmissions")
    assert any(i.startswith("conn-") for i in ids)
    assert retrans["evidence"]["frames"]


def test_waterfall_marks_events_at_their_times_on_a_ms_axis():
    report = cnfpost.analyze(SAMPLES / "tls_drop")
    page = report.to_html()
    s = report["samples"][0]
    tls = s["phases"]["tls"]
    # the exact duration is written beside its bar
    assert f"{tls['duration_ms']:.3f} ms" in page
    # every retransmission of the phase is marked with its frame and time, inside the phase
    for frame in tls["tcp"]["event_frames"]["retransmissions"]:
        m = re.search(rf"retransmissions: frame {frame} at ([0-9.]+) ms", page)
        assert m, frame
        end = tls["start_ms"] + tls["duration_ms"]
        assert tls["start_ms"] - 0.01 <= float(m.group(1)) <= end + 0.01


def test_a_report_read_back_from_json_still_renders(tmp_path):
    import orjson

    report = cnfpost.analyze(SAMPLES / "tls_drop")
    page = html(orjson.loads(report.to_json()))
    assert "sample-1" in page and "no capture attached" in page


def test_thinning_keeps_extremes_and_bounds_points():
    x = list(range(100_000))
    y = [0.0] * 100_000
    y[54_321] = 99.0
    tx, ty = svg.thin(x, y, 1000)
    assert len(tx) <= 1000 and 99.0 in ty and 54_321 in tx
    assert svg.thin([1, 2], [3, 4], 1000) == ([1, 2], [3, 4])


def test_nice_ticks_cover_the_range():
    ticks = svg.nice_ticks(0.0, 187.3)
    assert ticks[0] == 0 and ticks[-1] <= 187.3 and len(ticks) >= 3
    assert all(round(b - a, 9) == round(ticks[1] - ticks[0], 9) for a, b in zip(ticks, ticks[1:]))


def test_a_lab_bundle_page_renders(tmp_path):
    page = tmp_path / "lab.html"
    page.write_text(cnfpost.analyze(LAB_BUNDLES / "tls_retrans").to_html(), encoding="utf-8")
    attrs, log = render(page, tmp_path)
    check_page(attrs, log, {"rtt", "throughput"})


def test_an_rtt_far_above_the_rest_is_marked_at_the_top_not_lost():
    from cnfpost.report.series import capture_series

    report = cnfpost.analyze(SAMPLES / "path_loss")
    worst = max(capture_series(report, report.sources).ack_rtt[1])
    page = report.to_html()
    assert f"TCP ACK RTT: {worst:.3f} ms at" in page


def test_many_samples_stay_small(tmp_path):
    """Past WATERFALLS_DRAWN samples: one overview and at most that many waterfalls, so the
    page grows with the capture far slower than the 10 MB budget of a 1M-packet one."""
    import subprocess
    import sys

    from cnfpost.report.html import WATERFALLS_DRAWN

    cap, timings = tmp_path / "c.pcap", tmp_path / "t.jsonl"
    subprocess.run([sys.executable, str(SAMPLES.parent / "benchmarks" / "make_capture.py"),
                    str(cap), "--packets", "60000", "--timings", str(timings)], check=True,
                   capture_output=True)
    report = cnfpost.analyze(cap, timings=timings)
    assert len(report["samples"]) > WATERFALLS_DRAWN
    page = report.to_html()
    waterfalls = re.findall(r'<svg class="graph" id="sample-\d+"', page)
    assert len(waterfalls) == WATERFALLS_DRAWN and 'id="samples-overview"' in page
    assert len(page.encode()) < 2_000_000


def test_text_from_the_inputs_is_escaped():
    from tests.support import ROOT

    report = cnfpost.analyze(timings=ROOT / "tests" / "data" / "inputs" / "curl"
                             / "presigned_array.json")
    page = report.to_html()
    assert "&lt;redacted&gt;" in page and "<redacted>" not in page
