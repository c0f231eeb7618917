"""cnfpost.inputs.bundle: finding a bundle's files, checking manifest.json, finding bundles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnfpost.errors import InputError
from cnfpost.inputs.bundle import (
    Bundle,
    check_manifest,
    find_bundles,
    load_manifest,
    read_bundle,
)

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"

MANIFEST = {
    "bundle_format": "cnfpost-bundle/1",
    "collector": "cnfpost-collect",
    "collector_version": "0.1.0",
    "hostname": "probe",
    "start_wall": 1795631205.157984478,
    "end_wall": 1795631213.538398278,
    "interface": "eth0",
    "target": "origin.lab.test",
    "urls": ["https://origin.lab.test/100k.bin"],
    "samples": 2,
    "capture": {"file": "capture.pcap", "link_type": "EN10MB", "snaplen": 262144,
                "packets_captured": 239, "packets_received_by_filter": 239,
                "packets_dropped_by_kernel": 0, "tcpdump_exit": 0},
    "commands": {"ping": "ping -c 5 origin.lab.test", "mtr_raw": None},
    "exit_codes": {"ping": 0, "mtr": None, "curl": [0, 0]},
    "tools": {"curl": "curl 7.88.1"},
    "files": ["capture.pcap", "timings.jsonl", "ping.txt"],
    "notes": [],
}


def make_bundle(root: Path, files=("capture.pcap", "timings.jsonl", "ping.txt"),
                manifest: dict | str | None = MANIFEST) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).write_bytes(b"x")
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest, indent=2)
        (root / "manifest.json").write_text(text)
    return root


def test_finds_every_file_and_reads_the_manifest(tmp_path):
    root = make_bundle(tmp_path / "run", files=("capture.pcapng", "timings.jsonl",
                                                "timings_wallclock.jsonl", "mtr.json", "mtr.raw",
                                                "ping.txt", "ping_loaded.txt", "server.pcap"),
                       manifest={**MANIFEST, "files": ["capture.pcapng", "mtr.raw"]})
    (root / "expected").mkdir()
    b = read_bundle(root)
    assert isinstance(b, Bundle)
    assert b.capture == root / "capture.pcapng"
    assert (b.timings, b.timings_wallclock, b.mtr, b.mtr_raw, b.ping, b.ping_loaded) == tuple(
        root / n for n in ("timings.jsonl", "timings_wallclock.jsonl", "mtr.json", "mtr.raw",
                           "ping.txt", "ping_loaded.txt"))
    assert b.server_capture == root / "server.pcap"
    assert b.expected == root / "expected"
    assert b.manifest["files"] == ["capture.pcapng", "mtr.raw"]
    assert b.manifest_path == root / "manifest.json"
    assert b.missing == ()
    assert b.problems == ()
    assert b.capture_counters == {"packets_captured": 239, "packets_received_by_filter": 239,
                                  "packets_dropped_by_kernel": 0}


def test_missing_inputs_are_named(tmp_path):
    b = read_bundle(make_bundle(tmp_path / "run", files=("mtr.json",), manifest=None))
    assert b.capture is None and b.manifest is None and b.expected is None
    assert b.missing == ("capture.pcap", "timings.jsonl", "timings_wallclock.jsonl", "mtr.raw",
                         "ping.txt", "ping_loaded.txt", "server.pcap", "manifest.json")
    assert b.capture_counters == {"packets_captured": None, "packets_received_by_filter": None,
                                  "packets_dropped_by_kernel": None}


def test_files_the_manifest_lists_but_the_bundle_lacks(tmp_path):
    b = read_bundle(make_bundle(tmp_path / "run", files=("capture.pcap", "ping.txt")))
    assert [str(p) for p in b.problems] == [
        f"{tmp_path / 'run' / 'manifest.json'}: /files/1: expected timings.jsonl in the bundle, "
        "got no such file"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "expected a run bundle directory (capture.pcap, timings.jsonl, mtr.json or "
                     "ping.txt), got no such directory"),
    (lambda d: d.write_text("x"), "got a file"),
    (lambda d: d.mkdir(), "got none of them (empty)"),
    (lambda d: make_bundle(d, files=("notes.txt",), manifest=MANIFEST),
     "got none of them (found manifest.json, notes.txt)"),
    (lambda d: make_bundle(d, files=("capture.pcap", "capture.pcapng")),
     "expected one capture file, got both capture.pcap and capture.pcapng"),
])
def test_not_a_bundle(tmp_path, setup, message):
    target = tmp_path / "run"
    setup(target)
    with pytest.raises(InputError) as err:
        read_bundle(target)
    assert str(err.value).startswith(f"{target}: ")
    assert message in str(err.value)


@pytest.mark.parametrize("change, message", [
    ({"bundle_format": "cnfpost-bundle/2"},
     "/bundle_format: expected 'cnfpost-bundle/1' or 'cnfpost-lab-bundle/1', "
     "got 'cnfpost-bundle/2'"),
    ({"bundle_format": None}, "/bundle_format: expected a string, got None"),
    ({"start_wall": "yesterday"}, "/start_wall: expected a number, got 'yesterday'"),
    ({"samples": 2.5}, "/samples: expected a whole number or null, got 2.5"),
    ({"urls": [1]}, "/urls: expected a string or a list of strings, got [1]"),
    ({"capture": {"packets_dropped_by_kernel": "0"}},
     "/capture/packets_dropped_by_kernel: expected a whole number or null, got '0'"),
    ({"capture": []}, "/capture: expected an object, got []"),
    ({"exit_codes": {"curl": [0, "7"]}},
     "/exit_codes/curl: expected an exit code or a list of them or null, got [0, '7']"),
    ({"tools": {"mtr": 95}}, "/tools/mtr: expected a string or null, got 95"),
    ({"end_wall": 1795631200.0},
     "/end_wall: expected a time at or after start_wall (1795631205.1579845), got 1795631200.0"),
])
def test_manifest_type_errors_name_the_key(tmp_path, change, message):
    manifest = {**MANIFEST, **change}
    path = make_bundle(tmp_path / "run", manifest=manifest) / "manifest.json"
    with pytest.raises(InputError) as err:
        load_manifest(path)
    assert str(err.value) == f"{path}: {message}"
    # In a bundle the same problem is a warning: the bundle stays usable without it.
    b = read_bundle(path.parent)
    assert b.manifest is None
    assert [str(p) for p in b.problems] == [str(err.value)]


def test_manifest_without_a_format_and_not_an_object():
    with pytest.raises(InputError, match=r"m.json: /bundle_format: expected a bundle format "
                                         r"such as 'cnfpost-bundle/1', got no such key"):
        check_manifest({"hostname": "x"}, "m.json")
    with pytest.raises(InputError, match=r"m.json: /: expected a JSON object, got \[1, 2\]"):
        check_manifest([1, 2], "m.json")


@pytest.mark.parametrize("text, message", [
    ('{\n  "bundle_format": "cnfpost-bundle/1",\n  "hostname": \n}\n',
     "line 4: expected valid JSON at column 1 (expecting value), got '}'"),
    ('{"bundle_format": "cnfpost-bundle/1", "hostname": "pro', "line 1: expected valid JSON "
     "at column 51 (unterminated string starting at), got '{\"bundle_format\""),
    ("", "expected a JSON object, got an empty file"),
])
def test_broken_manifest_json(tmp_path, text, message):
    path = make_bundle(tmp_path / "run", manifest=text) / "manifest.json"
    with pytest.raises(InputError) as err:
        load_manifest(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_manifest_in_latin1_is_refused_at_its_byte(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_bytes(b'{"hostname": "caf\xe9"}')
    with pytest.raises(InputError, match=r"manifest.json: byte 17: expected UTF-8 JSON"):
        load_manifest(path)


def test_find_bundles_walks_an_archive(tmp_path):
    a = make_bundle(tmp_path / "2026" / "probe-a" / "run1")
    b = make_bundle(tmp_path / "2026" / "probe-b" / "run1", files=("ping.txt",), manifest=None)
    # Inside a bundle nothing is searched (lab/ and expected/ hold no bundles of their own).
    make_bundle(a / "lab" / "old", files=("ping.txt",))
    make_bundle(tmp_path / ".trash" / "run", files=("ping.txt",))
    (tmp_path / "2026" / "probe-c").mkdir()
    assert find_bundles(tmp_path) == [a, b]
    assert find_bundles(a) == [a]
    with pytest.raises(InputError, match="expected a directory of run bundles, got no such dir"):
        find_bundles(tmp_path / "nope")


def test_sample_data_bundles_read_cleanly():
    bundles = find_bundles(SAMPLE_DATA)
    assert {p.name for p in bundles} >= {"clean", "tls_drop", "path_loss", "slow_server"}
    for path in bundles:
        b = read_bundle(path)
        assert b.problems == (), path
        assert b.manifest["bundle_format"] == "cnfpost-bundle/1"
        assert b.capture is not None and b.timings is not None and b.mtr is not None
        assert b.capture_counters["packets_dropped_by_kernel"] == 0
        assert b.capture_counters["packets_captured"] > 0
