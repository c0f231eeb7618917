#!/bin/sh
# Regenerates tshark's per-frame TCP analysis of every oracle capture, as TSV:
#   tests/data/tshark/<name>.tsv
# with Wireshark 4.0 defaults (tcp.analyze_sequence_numbers, relative sequence numbers,
# tcp.fastrt_supersedes_ooo all TRUE). Run from the repository root:
#   sh tests/data/tshark/regenerate.sh
# The captures: ../shared/lab-bundles/<name>/capture.pcap (as lab_<name>) and
# tests/data/captures/*.pcap. The tshark version used is written to VERSION.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
lab=${CNFPOST_LAB_BUNDLES:-$root/../shared/lab-bundles}

fields="frame.number tcp.stream tcp.seq tcp.ack tcp.nxtseq tcp.window_size
tcp.analysis.retransmission tcp.analysis.fast_retransmission
tcp.analysis.spurious_retransmission tcp.analysis.out_of_order tcp.analysis.lost_segment
tcp.analysis.ack_lost_segment tcp.analysis.duplicate_ack tcp.analysis.duplicate_ack_num
tcp.analysis.duplicate_ack_frame tcp.analysis.zero_window tcp.analysis.zero_window_probe
tcp.analysis.zero_window_probe_ack tcp.analysis.window_full tcp.analysis.window_update
tcp.analysis.keep_alive tcp.analysis.keep_alive_ack tcp.analysis.reused_ports
tcp.analysis.bytes_in_flight tcp.analysis.acks_frame tcp.analysis.ack_rtt
tcp.analysis.initial_rtt"

dump() {
    args=""
    for f in $fields; do args="$args -e $f"; done
    # -o pins the preferences the comparison depends on, whatever the user's profile says
    tshark -r "$1" -n -T fields -E header=y -E separator=/t -E occurrence=f \
        -o tcp.analyze_sequence_numbers:TRUE -o tcp.relative_sequence_numbers:TRUE \
        -o tcp.track_bytes_in_flight:TRUE -o tcp.fastrt_supersedes_ooo:TRUE \
        -o tcp.desegment_tcp_streams:TRUE -o tcp.reassemble_out_of_order:FALSE \
        $args > "$2"
}

for bundle in "$lab"/*/; do
    name=$(basename "$bundle")
    [ -f "$bundle/capture.pcap" ] && dump "$bundle/capture.pcap" "$here/lab_$name.tsv"
done
for cap in "$root"/tests/data/captures/*.pcap; do
    [ -f "$cap" ] || continue
    dump "$cap" "$here/$(basename "$cap" .pcap).tsv"
done
tshark --version | head -1 > "$here/VERSION"
