"""Coverage-guided fuzzing of the capture decoders with atheris (libFuzzer).

    python fuzz/fuzz_decode.py -runs=100000 -max_len=4096 CORPUS_DIR

Seeds: write the named test captures into CORPUS_DIR first with
`python fuzz/fuzz_decode.py --write-seeds CORPUS_DIR`. Every input must either decode
(with the table's invariants holding, and the reference decoder agreeing on the frame
count) or raise InputError; anything else, or a crash, is a finding.
"""
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import numpy as np

    from cnfpost.capture import decode_bytes
    from cnfpost.errors import InputError
    from cnfpost.model import PACKET_COLUMNS


def check(data: bytes) -> None:
    try:
        table = decode_bytes(data, "fuzz")
    except InputError:
        return
    n = len(table)
    assert all(table[c.name].shape == (n,) for c in PACKET_COLUMNS)
    # identical empty records ending the capture are counted, not stored
    assert table.stats.packets == n + (table.empty_run.count if table.empty_run else 0)
    for side in (table.icmp, table.tcpopt, table.sack, table.payload_index):
        rows = side["row"]
        assert rows.size == 0 or (int(rows.max()) < n and bool(np.all(np.diff(rows.astype(np.int64)) >= 0)))
    v6 = table["ip_version"] == 6
    if v6.any():
        assert int(table["ip_src"][v6].max()) < table.ip6_addresses.shape[0]
    assert int(table.payload_index["length"].sum()) <= len(table.payload_bytes)


def write_seeds(directory: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import capbuild as cb

    directory.mkdir(parents=True, exist_ok=True)
    seeds = {
        "handshake": cb.handshake_get_response(), "sections": cb.multi_section_pcapng(),
        "unreachable": cb.port_unreachable(), "ipv6_ext": cb.ipv6_ext_chain(),
        "qinq": cb.vlan_qinq(), "snaplen": cb.snaplen_cut(), "tso": cb.tso_total_len_zero(),
        "fragments": cb.ip_fragments_udp(), "syn_rst": cb.syn_then_rst(),
    }
    for name, data in seeds.items():
        (directory / name).write_bytes(data)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-seeds":
        write_seeds(Path(sys.argv[2]))
        sys.exit(0)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
