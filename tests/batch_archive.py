"""A synthetic archive of run bundles, made from the clean lab bundle, with known events.

    plan = make_archive(tmp_path / "archive", runs=34)
    plan.outlier_run, plan.path_change_at, plan.broken_source

One probe ("probe-a") and one target, one run per hour. Every run's curl timings are the
lab's, scaled by 10 (a WAN-like ~100 ms request) and by a deterministic per-run wobble of
±15 %: some runs sit more than `batch.outlier_min_ms` above the median without standing
out, so a fixed threshold would flag them and the robust baseline must not. Planted:

- run ``outlier_run``: the server answers 300 ms later in every sample (one slow run);
- from run ``path_change_at`` on, hop 2 is another router (one path change);
- run ``silent_hop_run``: hop 1 did not answer mtr (???): not a path change;
- one broken bundle (its capture is not a capture) after the last run;
- the last ``tar_runs`` runs are packed in a .tar.gz one level down, not as directories.

Only ``capture_runs`` carry the lab capture (the rest: timings, mtr, ping, manifest), to
keep the archive small and fast while still exercising the capture path.
"""
from __future__ import annotations

import json
import math
import shutil
import tarfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

LAB = Path(__file__).resolve().parent / "data" / "lab_bundles" / "clean"
PROBE = "probe-a"
TARGET = "origin.lab.test"
START = datetime(2026, 11, 1, 0, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Plan:
    root: Path
    runs: int
    outlier_run: int
    path_change_at: int
    silent_hop_run: int
    capture_runs: tuple[int, ...]
    tar_runs: int
    broken_source: str

    def run_id(self, i: int) -> str:
        return f"{PROBE}_{TARGET}_{when(i).strftime('%Y%m%dT%H%M%SZ')}"


def when(i: int) -> datetime:
    return START + timedelta(hours=i)


def wobble(i: int) -> float:
    """Deterministic spread of ±15 % around 1 (no two neighbours alike)."""
    return 1.0 + 0.15 * math.sin(1.7 * i + 0.3)


def make_archive(root: Path, runs: int = 34, outlier_run: int = 11, path_change_at: int = 20,
                 silent_hop_run: int = 7, capture_runs: tuple[int, ...] = (0, 31),
                 tar_runs: int = 4) -> Plan:
    root.mkdir(parents=True, exist_ok=True)
    base_timings = [json.loads(line) for line in (LAB / "timings.jsonl").read_text().splitlines()
                    if line.strip()]
    base_mtr = json.loads((LAB / "mtr.json").read_text())
    base_manifest = json.loads((LAB / "manifest.json").read_text())
    tar_dir = root / PROBE / "packed"
    for i in range(runs):
        packed = i >= runs - tar_runs
        parent = (tar_dir / "staging") if packed else (root / PROBE / when(i).strftime("%Y-%m-%d"))
        run = parent / f"run-{i:02d}"
        run.mkdir(parents=True)
        (run / "timings.jsonl").write_text("".join(
            json.dumps(_timing(t, i, slow_server_s=0.3 if i == outlier_run else 0.0)) + "\n"
            for t in base_timings))
        (run / "mtr.json").write_text(json.dumps(_mtr(base_mtr, i, path_change_at,
                                                      silent_hop_run), indent=1))
        shutil.copyfile(LAB / "ping.txt", run / "ping.txt")
        files = ["timings.jsonl", "mtr.json", "ping.txt"]
        if i in capture_runs:
            shutil.copyfile(LAB / "capture.pcap", run / "capture.pcap")
            shutil.copyfile(LAB / "timings_wallclock.jsonl", run / "timings_wallclock.jsonl")
            files += ["capture.pcap", "timings_wallclock.jsonl"]
        (run / "manifest.json").write_text(json.dumps(_manifest(base_manifest, i, files)))
    if tar_runs:
        with tarfile.open(tar_dir / "late-runs.tar.gz", "w:gz") as tar:
            for run in sorted((tar_dir / "staging").iterdir()):
                tar.add(run, arcname=run.name)
        shutil.rmtree(tar_dir / "staging")
    broken = root / PROBE / "broken" / "run-broken"
    broken.mkdir(parents=True)
    (broken / "capture.pcap").write_bytes(b"<html>not a capture</html>")
    (broken / "manifest.json").write_text(json.dumps(_manifest(base_manifest, runs,
                                                               ["capture.pcap"])))
    return Plan(root, runs, outlier_run, path_change_at, silent_hop_run, capture_runs, tar_runs,
                f"{PROBE}/broken/run-broken")


def _timing(sample: dict, i: int, slow_server_s: float) -> dict:
    out = {k: v for k, v in sample.items() if k != "certs"}  # 30 kB of certificate text
    scale = 10.0 * wobble(i)
    for key in ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
                "time_starttransfer", "time_total"):
        out[key] = round(sample[key] * scale, 6)
    out["time_starttransfer"] = round(out["time_starttransfer"] + slow_server_s, 6)
    out["time_total"] = round(out["time_total"] + slow_server_s, 6)
    return out


def _mtr(base: dict, i: int, path_change_at: int, silent_hop_run: int) -> dict:
    mtr = json.loads(json.dumps(base))
    hubs = mtr["report"]["hubs"]
    if i >= path_change_at:
        hubs[1]["host"] = "r2-backup.lab.test"
    if i == silent_hop_run:
        hubs[0].update({"host": "???", "Loss%": 100.0, "Last": 0.0, "Avg": 0.0, "Best": 0.0,
                        "Wrst": 0.0, "StDev": 0.0})
    return mtr


def _manifest(base: dict, i: int, files: list[str]) -> dict:
    m = dict(base)
    m.update({"hostname": PROBE, "target": TARGET, "scenario": f"synthetic-{i}",
              "start_utc": when(i).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "start_wall": when(i).timestamp(), "end_wall": when(i).timestamp() + 20.0,
              "files": files})
    return m
