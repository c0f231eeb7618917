"""The diagnosis never fails on odd captures: random TCP conversations (time going
backwards, any flags, windows, ids, holes, copies, zero-length and huge segments, frames
without a time) analysed with and without curl timings give a report that fits the schema,
with a cause that is a finding of the report."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cnfpost import analyze
from cnfpost.findings import CATALOGUE
from cnfpost.report.schema import validate
from tests.support import examples, require_module
from tests.tcp_builders import Capture

require_module("jsonschema")

segment = st.tuples(
    st.floats(-50.0, 3000.0, allow_nan=False),            # time, ms (may go backwards)
    st.sampled_from("cs"),                                 # sender
    st.integers(0, 200_000),                               # relative seq
    st.integers(0, 200_000),                               # relative ack
    st.sampled_from(["A", "PA", "S", "SA", "FA", "RA", "R", "A"]),
    st.sampled_from([0, 1, 512, 65535]),                   # window
    st.sampled_from([0, 0, 1, 100, 1448, 1460, 14600]),    # payload
)


@settings(max_examples=examples(60), deadline=None)
@given(segments=st.lists(segment, min_size=1, max_size=40), ids=st.booleans(),
       lost=st.sets(st.integers(0, 39), max_size=5), with_timings=st.booleans(),
       two=st.booleans())
def test_any_conversation_gives_a_valid_report(tmp_path_factory, segments, ids, lost,
                                               with_timings, two):
    cap = Capture(ip_ids=ids)
    conns = [cap.conn(client=("198.18.1.2", 40000), server=("198.18.3.2", 443))]
    if two:
        conns.append(cap.conn(client=("198.18.1.2", 40001), server=("198.18.3.2", 443)))
    for k, (t, side, seq, ack, flags, win, data) in enumerate(segments):
        conns[k % len(conns)].seg(t, side, seq, ack, flags, win=win, data=data)
    cap.lost = {i for i in lost if i < len(cap.frames) - 1}
    root = tmp_path_factory.mktemp("run")
    (root / "capture.pcap").write_bytes(cap.pcap_bytes())
    if with_timings:
        timing = {"url": "https://origin.lab.test/", "exitcode": 0, "num_connects": 1,
                  "local_ip": "198.18.1.2", "local_port": 40000, "remote_ip": "198.18.3.2",
                  "remote_port": 443, "response_code": 200, "size_download": 30000,
                  "time_namelookup": 0.001, "time_connect": 0.021, "time_appconnect": 0.05,
                  "time_pretransfer": 0.051, "time_starttransfer": 0.9, "time_total": 2.5}
        (root / "timings.jsonl").write_text(json.dumps(timing) + "\n")
    report = analyze(root).to_dict()
    validate(report)
    cause = report["overall"]["cause"]
    if cause is not None:
        assert cause["code"] in {f["code"] for f in report["findings"]}
        assert CATALOGUE[cause["code"]].mechanism == cause["mechanism"]
