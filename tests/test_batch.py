"""cnfpost batch: discovery (directories and .tar.gz, safely), the index, the robust
baseline, path changes, resume, the CLI, and the Dask path giving the same bytes."""
from __future__ import annotations

import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

import orjson
import pytest

from cnfpost import batch
from cnfpost.batch import (ExtractLimits, Run, discover, extract_tar, robust_z, run_batch,
                           summarize, write_atomic)
from cnfpost.errors import InputError
from tests.batch_archive import PROBE, TARGET, make_archive
from tests.support import require, run_cli


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return make_archive(tmp_path_factory.mktemp("batch") / "archive")


@pytest.fixture(scope="module")
def local(archive, tmp_path_factory):
    """The archive analysed once, in this process (-j1): the reference result."""
    out = tmp_path_factory.mktemp("batch-out") / "out"
    return out, run_batch(archive.root, out, jobs=1)


def tree(out: Path) -> dict[str, bytes]:
    """Every output file by relative path (the unpacked archives aside)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and batch.EXTRACTED not in p.relative_to(out).parts}


# ----------------------------------------------------------------------------------------
# The synthetic archive: both planted events are reported, and nothing else
# ----------------------------------------------------------------------------------------

def test_every_run_is_found_including_the_tar_and_the_broken_one(archive, local):
    _, result = local
    assert len(result.rows) == archive.runs + 1
    sources = [r["source"] for r in result.rows]
    packed = [s for s in sources if "/late-runs.tar.gz/" in s]
    assert len(packed) == archive.tar_runs
    assert f"{PROBE}/packed/late-runs.tar.gz/run-{archive.runs - 1:02d}" in packed
    assert len(set(r["run_id"] for r in result.rows)) == len(result.rows)
    assert sorted(result.analysed) == sorted(r["run_id"] for r in result.rows)


def test_the_planted_outlier_is_the_only_outlier(archive, local):
    _, result = local
    s = summarize(result.rows)
    assert [o["run_id"] for o in s.outliers] == [archive.run_id(archive.outlier_run)]
    metrics = {m["metric"]: m for m in s.outliers[0]["metrics"]}
    assert "server_ms" in metrics
    assert metrics["server_ms"]["value"] - metrics["server_ms"]["median"] > 250
    # Only what the slow server moves: the other phases stayed within their history.
    assert set(metrics) <= {"server_ms", "ttfb_ms", "total_ms"}


def test_a_fixed_threshold_would_have_flagged_more(archive, local):
    """The wobble puts several ordinary runs more than outlier_min_ms above the median:
    the floor alone would call them outliers; their robust z does not."""
    _, result = local
    ok = [r for r in result.rows if r["status"] == "ok"]
    totals = sorted(r["total_ms"] for r in ok)
    median = totals[len(totals) // 2]
    above = [r for r in ok if r["total_ms"] - median >= 10.0
             and r["run_id"] != archive.run_id(archive.outlier_run)]
    assert len(above) >= 3
    values = [r["total_ms"] for r in ok]
    assert all(robust_z(r["total_ms"], values)[0] <= 3.5 for r in above)


def test_the_planted_path_change_is_the_only_path_change(archive, local):
    _, result = local
    s = summarize(result.rows)
    assert len(s.path_changes) == 1
    change = s.path_changes[0]
    assert change["before_run"] == archive.run_id(archive.path_change_at - 1)
    assert change["after_run"] == archive.run_id(archive.path_change_at)
    assert change["before"][1] == "r2.lab.test" and change["after"][1] == "r2-backup.lab.test"
    # The run whose first hop was silent (???) is not a change, before or after it.
    silent = next(r for r in result.rows if r["run_id"] == archive.run_id(archive.silent_hop_run))
    assert silent["hops"][0] == "???"


def test_the_broken_bundle_is_recorded_and_the_rest_goes_on(archive, local):
    out, result = local
    assert len(result.failed) == 1
    row = next(r for r in result.rows if r["status"] == "error")
    assert row["source"] == archive.broken_source
    assert row["error"] == (f"{archive.broken_source}/capture.pcap: byte 0: expected a pcap or "
                            "pcapng magic number, got 0x3c68746d")
    assert not (out / "runs" / row["run_id"] / "report.json").exists()
    assert sum(1 for r in result.rows if r["status"] == "ok") == archive.runs


def test_summary_markdown_names_exactly_the_planted_events(archive, local):
    out, _ = local
    text = (out / "summary.md").read_text()
    outliers = text.split("## Runs that stand out")[1].split("## Path changes")[0]
    changes = text.split("## Path changes")[1].split("## Trends")[0]
    failed = text.split("## Failed runs")[1]
    assert [line.split(" | ")[0].lstrip("| ") for line in outliers.splitlines()
            if line.startswith(f"| {PROBE}_")] == [archive.run_id(archive.outlier_run)]
    assert "server 315" in outliers
    assert len([line for line in changes.splitlines() if line.startswith(f"| {PROBE} |")]) == 1
    assert "r2.lab.test > origin.lab.test | r1.lab.test > r2-backup.lab.test" in changes
    assert archive.broken_source in failed
    assert f"### {TARGET} from {PROBE}" in text
    assert f"{archive.runs} analysed run(s)" in text


def test_index_jsonl_and_csv_hold_one_row_per_run(archive, local):
    out, result = local
    lines = (out / "index.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == result.rows
    import csv

    rows = list(csv.DictReader(io.StringIO((out / "index.csv").read_text())))
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in result.rows]
    assert list(rows[0]) == list(batch.INDEX_COLUMNS)
    slow = next(r for r in rows if r["run_id"] == archive.run_id(archive.outlier_run))
    assert float(slow["server_ms"]) > 300
    assert slow["hops"] == "r1.lab.test > r2.lab.test > origin.lab.test"
    with_capture = next(r for r in rows if r["run_id"] == archive.run_id(0))
    # the clean lab capture: no retransmission, and its L4 grade is the lab report's
    assert with_capture["retrans_pct"] == "0.0" and with_capture["grade_l4"] == "excellent"
    without = next(r for r in rows if r["run_id"] == archive.run_id(1))
    assert without["retrans_pct"] == "" and without["grade_l4"] == "unknown"
    # The time orders the rows within a probe and target.
    times = [r["time"] for r in rows if r["status"] == "ok"]
    assert times == sorted(times)


def test_each_run_has_its_reports_and_stamp(archive, local):
    out, result = local
    run_id = archive.run_id(0)
    folder = out / "runs" / run_id
    from cnfpost.pipeline import analyze

    # The same bytes as `cnfpost analyze RUN --json`.
    assert (folder / "report.json").read_bytes() == analyze(
        archive.root / PROBE / "2026-11-01" / "run-00").to_json()
    report = orjson.loads((folder / "report.json").read_bytes())
    assert report["inputs"]["manifest"]["hostname"] == PROBE
    assert orjson.loads((folder / "row.json").read_bytes()) == next(
        r for r in result.rows if r["run_id"] == run_id)
    stamp = orjson.loads((folder / "stamp.json").read_bytes())
    assert set(stamp["inputs"]) == {"capture.pcap", "manifest.json", "mtr.json", "ping.txt",
                                    "timings.jsonl", "timings_wallclock.jsonl"}
    assert stamp["cnfpost"] == batch.__version__
    md = folder / "report.md"
    try:
        import cnfpost.report.render  # noqa: F401
    except ImportError:
        assert not md.exists()
    else:
        assert md.read_text().strip()


# ----------------------------------------------------------------------------------------
# Resume, atomic writes, parallelism
# ----------------------------------------------------------------------------------------

def test_a_rerun_skips_up_to_date_runs_and_writes_the_same_bytes(archive, tmp_path):
    out = tmp_path / "out"
    first = run_batch(archive.root, out)
    before = tree(out)
    again = run_batch(archive.root, out)
    assert again.analysed == []
    assert sorted(again.skipped) == sorted(r["run_id"] for r in first.rows)
    assert again.rows == first.rows
    assert tree(out) == before


def test_a_resumed_batch_analyses_again_a_run_whose_report_is_missing(archive, local,
                                                                       tmp_path):
    done, result = local
    out = tmp_path / "out"
    shutil.copytree(done, out)
    lost = next(r["run_id"] for r in result.rows if r["status"] == "ok")
    (out / "runs" / lost / "report.json").unlink()
    resumed = run_batch(archive.root, out)
    assert resumed.analysed == [lost]
    assert (out / "runs" / lost / "report.json").is_file()


def test_an_interrupted_batch_resumes_where_it_stopped(archive, tmp_path):
    out = tmp_path / "out"

    def stop_after_five(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(archive.root, out, progress=stop_after_five)
    assert not (out / "index.jsonl").exists()
    resumed = run_batch(archive.root, out)
    assert len(resumed.skipped) == 5
    assert len(resumed.analysed) == archive.runs + 1 - 5
    assert set(resumed.skipped).isdisjoint(resumed.analysed)


def test_a_changed_input_or_a_missing_stamp_is_analysed_again(archive, tmp_path):
    import shutil

    root = tmp_path / "archive"
    shutil.copytree(archive.root, root)
    out = tmp_path / "out"
    run_batch(root, out)
    timings = root / PROBE / "2026-11-01" / "run-03" / "timings.jsonl"
    timings.write_text(timings.read_text().replace('"time_total": 0.', '"time_total": 1.'))
    (out / "runs" / archive.run_id(5) / "stamp.json").unlink()
    again = run_batch(root, out)
    assert again.analysed == sorted([archive.run_id(3), archive.run_id(5)])
    row = next(r for r in again.rows if r["run_id"] == archive.run_id(3))
    assert row["total_ms"] > 900  # the change is in the fresh row
    forced = run_batch(root, out, force=True)
    assert len(forced.analysed) == archive.runs + 1


def test_other_cnfpost_code_makes_every_run_out_of_date(archive, local, tmp_path,
                                                        monkeypatch):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(local[0], out)
    assert run_batch(archive.root, out).analysed == []
    monkeypatch.setattr(batch, "code_digest", lambda: "0" * 64)  # as after an edit or upgrade
    assert len(run_batch(archive.root, out).analysed) == archive.runs + 1


def test_a_dead_worker_is_an_error_row_retried_next_time(tmp_path):
    """Not the bundle's fault: no stamp, so the next batch analyses the run again."""
    from tests.batch_archive import LAB

    run = Run("r1", "clean", str(LAB))
    stamp = batch.make_stamp(run, None, "code")
    dead = batch.runner._process_failed(run, RuntimeError("worker killed"))
    batch.runner._write_run(tmp_path, dead, stamp)
    assert dead.row["error"] == "analysis process failed: RuntimeError: worker killed"
    assert not (tmp_path / "runs" / "r1" / "stamp.json").exists()
    assert batch.runner._cached_row(tmp_path, run, stamp) is None
    batch.runner._write_run(tmp_path, batch.analyse_run(run), stamp)
    assert batch.runner._cached_row(tmp_path, run, stamp)["status"] == "ok"
    assert batch.runner._cached_row(tmp_path, run, {**stamp, "code": "other"}) is None


def test_write_atomic_leaves_old_file_or_new_file_and_no_temporaries(tmp_path):
    target = tmp_path / "index.jsonl"
    write_atomic(target, b"old\n")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # fails while writing the temporary file
    assert target.read_bytes() == b"old\n"
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["index.jsonl"]


def test_two_processes_write_the_same_bytes_as_one(archive, local, tmp_path):
    out, _ = local
    result = run_batch(archive.root, tmp_path / "out", jobs=2)
    assert len(result.analysed) == archive.runs + 1
    assert tree(tmp_path / "out") == tree(out)


def test_dask_cluster_writes_the_same_bytes_as_the_local_run(archive, local, tmp_path):
    try:
        from dask.distributed import LocalCluster
    except ImportError:
        LocalCluster = None
    require(LocalCluster is not None, "dask[distributed] is not installed "
                                      "(pip install 'dask[distributed]')")
    out, _ = local
    # Worker processes, not threads: runs and results are serialised across a process
    # boundary, as they are between machines.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        result = run_batch(archive.root, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert len(result.analysed) == archive.runs + 1
    assert tree(tmp_path / "out") == tree(out)


def test_scheduler_without_dask_is_bad_input(archive, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    code, out, err = run_cli(["batch", str(archive.root), "--out", str(tmp_path / "o"),
                              "--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert code == 2 and out == ""
    assert err == ("<input>: --scheduler: expected dask.distributed installed "
                   "(pip install 'cnfpost[dask]'), got no module dask.distributed\n")


# ----------------------------------------------------------------------------------------
# The CLI
# ----------------------------------------------------------------------------------------



def test_cli_batch_reports_counts_and_failures_without_progress_off_a_terminal(
        archive, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["batch", str(archive.root), "--out", str(out_dir), "-j", "2"],
                             capsys)
    total = archive.runs + 1
    assert code == 0
    assert out == f"{total} run(s): {total - 1} analysed, 1 failed; 0 up to date, reused; " \
                  f"see {out_dir}/summary.md\n"
    assert f"{total} run(s): {total - 1} analysed, 1 failed." in \
        (out_dir / "summary.md").read_text()  # the same count in both
    assert err == (f"failed: {archive.broken_source}/capture.pcap: byte 0: expected a pcap or "
                   "pcapng magic number, got 0x3c68746d\n")  # no progress: not a terminal
    code, out, _ = run_cli(["batch", str(archive.root), "--out", str(out_dir)], capsys)
    assert code == 0 and f"{total - 1} analysed, 1 failed; {total} up to date" in out


def test_cli_batch_on_a_missing_archive_is_one_line(tmp_path, capsys):
    code, out, err = run_cli(["batch", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                             capsys)
    assert code == 2 and out == ""
    assert err == (f"{tmp_path / 'nope'}: expected a directory of run bundles or a .tar.gz "
                   "of them, got no such file or directory\n")


# ----------------------------------------------------------------------------------------
# Discovery and safe extraction
# ----------------------------------------------------------------------------------------

def test_an_archive_that_is_one_tar_gz(archive, tmp_path):
    src = tmp_path / "all.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        tar.add(archive.root, arcname="archive")
    runs = discover(src, tmp_path / "work")
    assert len(runs) == archive.runs + 1
    # The inner .tar.gz was opened too; sources name the path through both archives.
    assert any(r.source.startswith("all.tar.gz/archive/probe-a/packed/late-runs.tar.gz/")
               for r in runs)


def test_a_directory_that_is_one_bundle(tmp_path):
    from tests.batch_archive import LAB

    runs = discover(LAB, tmp_path / "work")
    assert [(r.source, r.probe, r.target, r.time) for r in runs] == [
        ("clean", "lab-probe", "origin.lab.test", "2026-11-25T17:27:45Z")]
    assert runs[0].run_id == "lab-probe_origin.lab.test_20261125T172745Z"


def test_copies_of_one_bundle_get_distinct_ids(tmp_path):
    import shutil

    from tests.batch_archive import LAB

    for name in ("a", "b"):
        shutil.copytree(LAB, tmp_path / "arc" / name)
    (tmp_path / "arc" / "c").mkdir()
    (tmp_path / "arc" / "c" / "ping.txt").write_text("")  # no manifest: id from the path
    ids = [r.run_id for r in discover(tmp_path / "arc", tmp_path / "work")]
    assert len(set(ids)) == 3
    assert ids[2] == "c"
    assert all(i.startswith("lab-probe_origin.lab.test_20261125T172745Z-") for i in ids[:2])


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


HOSTILE = {
    "parent": ([(_info("run/../../escaped.txt"), b"x")], "'..' in it"),
    "absolute": ([(_info("/tmp/escaped.txt"), b"x")], "an absolute or odd name"),
    "symlink": ([(_info("run/ping.txt", tarfile.SYMTYPE, linkname="/etc/passwd"), None)],
                "a symbolic link"),
    "hardlink": ([(_info("run/ping.txt", tarfile.LNKTYPE, linkname="/etc/passwd"), None)],
                 "a hard link"),
    "device": ([(_info("run/dev", tarfile.CHRTYPE, devmajor=1, devminor=3), None)], "a device"),
    "fifo": ([(_info("run/fifo", tarfile.FIFOTYPE), None)], "a FIFO"),
    "duplicate": ([(_info("run/ping.txt"), b"a"), (_info("run/ping.txt"), b"b")],
                  "FileExistsError"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_rejected_whole_and_nothing_escapes(case, tmp_path):
    members, why = HOSTILE[case]
    # A good file first: a rejected archive must not leave even that behind.
    src = _tar(tmp_path / "bad.tar.gz", [(_info("run/timings.jsonl"), b"{}\n")] + members)
    work = tmp_path / "deep" / "work"
    with pytest.raises(InputError) as err:
        extract_tar(src, work)
    assert why in str(err.value)
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    assert list(work.iterdir()) == []


def test_size_limits_reject_an_archive(tmp_path):
    src = _tar(tmp_path / "big.tar.gz", [(_info("run/a"), b"x" * 100),
                                         (_info("run/b"), b"y" * 100)])
    with pytest.raises(InputError, match="at most 50 bytes"):
        extract_tar(src, tmp_path / "w1", ExtractLimits(max_member_bytes=50))
    with pytest.raises(InputError, match="at most 150 bytes unpacked"):
        extract_tar(src, tmp_path / "w2", ExtractLimits(max_total_bytes=150))
    with pytest.raises(InputError, match="at most 1 members"):
        extract_tar(src, tmp_path / "w3", ExtractLimits(max_members=1))
    assert extract_tar(src, tmp_path / "w4").joinpath("run", "b").read_bytes() == b"y" * 100


def test_decompressed_bytes_are_bounded_before_any_member_is_seen(tmp_path, monkeypatch):
    """A pax record is read whole by tarfile: its size is bounded by the stream limit."""
    src = tmp_path / "pax.tar.gz"
    with tarfile.open(src, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = _info("run/ping.txt")
        info.pax_headers = {"comment": "x" * 20_000}
        info.size = 1
        tar.addfile(info, io.BytesIO(b"1"))
    assert src.stat().st_size < 1000  # it compresses to almost nothing
    monkeypatch.setattr(batch.archive, "_TAR_SLACK", 4096)
    with pytest.raises(InputError, match="unpacks within the size limit"):
        extract_tar(src, tmp_path / "w", ExtractLimits(max_total_bytes=100))
    assert list((tmp_path / "w").iterdir()) == []
    monkeypatch.setattr(batch.archive, "_TAR_SLACK", 64 << 20)
    assert extract_tar(src, tmp_path / "w2").joinpath("run", "ping.txt").read_bytes() == b"1"


def test_a_bad_archive_inside_is_a_failed_run_and_the_rest_goes_on(tmp_path):
    import shutil

    from tests.batch_archive import LAB

    root = tmp_path / "arc"
    shutil.copytree(LAB, root / "good")
    _tar(root / "evil.tar.gz", [(_info("../x"), b"x")])
    (root / "cut.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = run_batch(root, tmp_path / "out")
    by_source = {r["source"]: r for r in result.rows}
    assert by_source["good"]["status"] == "ok"
    assert by_source["evil.tar.gz"]["error"] == ("evil.tar.gz: member '../x': expected a path "
                                                 "inside the archive, got '..' in it")
    assert by_source["cut.tar.gz"]["error"].startswith("cut.tar.gz: expected a readable .tar.gz")
    assert str(tmp_path) not in (tmp_path / "out" / "summary.md").read_text()


def test_an_unpacked_archive_is_reused(tmp_path):
    src = _tar(tmp_path / "a.tar.gz", [(_info("run/ping.txt"), b"")])
    first = extract_tar(src, tmp_path / "work")
    (first / "marker").write_text("kept")
    assert extract_tar(src, tmp_path / "work") == first
    assert (first / "marker").exists()


def test_run_ids_are_safe_directory_names():
    run = batch.archive._identify(batch.archive._Found("x/../y z", None))
    assert run.run_id == "x__..__y-z" and "/" not in run.run_id
    assert isinstance(run, Run)


def test_progress_bar_only_on_a_terminal(tmp_path):
    """stderr on a pseudo-terminal shows the bar; piped (as in every test above) it does not."""
    import os
    import pty
    import shutil
    import subprocess

    from tests.batch_archive import LAB

    for name in ("a", "b", "c"):
        shutil.copytree(LAB, tmp_path / "arc" / name)
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "cnfpost.cli", "batch", str(tmp_path / "arc"),
                           "--out", str(tmp_path / "out")], stderr=slave,
                          stdout=subprocess.PIPE, timeout=300)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"[" + b"#" * 30 + b"] 3/3 run(s)" in seen
    assert proc.stdout.startswith(b"3 run(s): 3 analysed")


def test_config_overrides_batch_thresholds_and_invalidates_stamps(archive, local, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(local[0], out)  # up to date without a config
    config = tmp_path / "strict.toml"
    config.write_text('[thresholds]\n"batch.outlier_z" = 1000.0\n')
    result = run_batch(archive.root, out, config=config)
    assert len(result.analysed) == archive.runs + 1  # the config is part of every stamp
    assert summarize(result.rows).outliers != []  # default thresholds still flag it...
    assert "## Runs that stand out" in (out / "summary.md").read_text()
    text = (out / "summary.md").read_text()
    outliers = text.split("## Runs that stand out")[1].split("## Path changes")[0]
    assert outliers.rstrip().endswith("None.")  # ... the configured ones do not


# ----------------------------------------------------------------------------------------
# Resource limits: expansion ratio, nothing unpacked is kept (#15 item 4)
# ----------------------------------------------------------------------------------------

class _Zeros(io.RawIOBase):
    """n zero bytes, read in chunks: a bomb's member without holding it in memory."""

    def __init__(self, n: int):
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.left)
        buf[:n] = bytes(n)
        self.left -= n
        return n


def test_a_member_expanding_more_than_100_to_1_is_refused_early(tmp_path):
    size = 64 << 20  # 64 MiB of zeros: some 64 KiB compressed
    src = tmp_path / "bomb.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        info = _info("run/capture.pcap")
        info.size = size
        tar.addfile(info, _Zeros(size))
    assert src.stat().st_size * 100 < size
    with pytest.raises(InputError) as err:
        extract_tar(src, tmp_path / "w")
    assert str(err.value).startswith(f"{src}: member 'run/capture.pcap': expected at most "
                                     "100:1 expansion, got ")
    assert list((tmp_path / "w").iterdir()) == []


def test_incompressible_members_pass_the_ratio(tmp_path):
    data = os.urandom(3 << 20)
    src = _tar(tmp_path / "ok.tar.gz", [(_info("run/capture.pcap"), data)])
    assert extract_tar(src, tmp_path / "w", ExtractLimits(max_ratio=2)) \
        .joinpath("run", "capture.pcap").read_bytes() == data


def test_unpacked_runs_are_deleted_once_analysed(tmp_path):
    from tests.batch_archive import LAB

    src = tmp_path / "runs.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        tar.add(LAB, arcname="run1")
    out = tmp_path / "out"
    result = run_batch(src, out)
    assert [r["status"] for r in result.rows] == ["ok"]
    assert not (out / batch.EXTRACTED).exists()
    again = run_batch(src, out)  # unpacked afresh, found up to date
    assert again.skipped == [result.rows[0]["run_id"]] and again.analysed == []
    assert not (out / batch.EXTRACTED).exists()
