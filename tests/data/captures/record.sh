#!/bin/sh
# Records the loopback captures the TCP oracle tests compare with tshark
# (tests/test_tcp_tshark.py). Needs root (tcpdump, iptables). Only 127.0.0.1 / ::1 traffic
# on the ports below; every iptables rule added is removed on exit.
#
#   lo_drop_output.pcap  HTTP downloads (python http.server + curl --limit-rate), 8 % of the
#                        server's segments dropped by an OUTPUT rule (the sender learns of
#                        the drop locally): a few retransmissions, window full.
#   lo_drop_input.pcap   the same with the drops in INPUT (tcpdump has seen the dropped
#                        segment): retransmissions, a fast retransmission, out-of-order,
#                        dup ACKs, D-SACK, window full and updates.
#   lo_slow_reader.pcap  IPv6 (::1), a client with a small receive buffer that reads slowly
#                        (zero windows, probes, window full, window updates), TCP
#                        keep-alives, and a reconnect from the same port after an abortive
#                        close (port numbers reused, a new tcp.stream).
#
# Segments are clamped to 1400 bytes (TCPMSS on the SYNs of these ports) so that losses
# and windows look like a real path; the snap length is 96 bytes to keep the files small.
#   sh tests/data/captures/record.sh    (then: sh tests/data/tshark/regenerate.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
P1=38081
P2=38082
P3=38083
P4=38084
pids=""

rules_added=""
add_rule() {   # add_rule <cmd> <table> <chain> <args...>: remember it for the cleanup
    cmd=$1; table=$2; chain=$3; shift 3
    "$cmd" -t "$table" -A "$chain" "$@"
    rules_added="$rules_added
$cmd|$table|$chain|$*"
}
cleanup() {
    echo "$rules_added" | while IFS='|' read -r cmd table chain args; do
        [ -n "$cmd" ] || continue
        # shellcheck disable=SC2086
        "$cmd" -t "$table" -D "$chain" $args || true
    done
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

head -c 400000 /dev/urandom > "$work/400k.bin"
head -c 150000 /dev/urandom > "$work/150k.bin"

start_capture() {   # start_capture <file> <filter>
    tcpdump -i lo -s 96 -U -w "$1" "$2" 2>/dev/null &
    tcpdump_pid=$!
    pids="$pids $tcpdump_pid"
    sleep 1
}
stop_capture() {
    sleep 1
    kill -INT "$tcpdump_pid"
    wait "$tcpdump_pid" 2>/dev/null || true
}

# --- 1 and 2: HTTP downloads with drops --------------------------------------------------
# Loopback uses GSO: the captured data segments are up to 64 KB whatever the MSS, so the
# downloads are rate-limited (the receive window then cuts smaller segments) and the
# drop rate is high enough to give a few losses per download.
for port in "$P1" "$P4"; do
    (cd "$work" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
    pids="$pids $!"
    add_rule iptables mangle OUTPUT -o lo -p tcp --dport "$port" --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
    add_rule iptables mangle OUTPUT -o lo -p tcp --sport "$port" --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
done
sleep 1

add_rule iptables filter OUTPUT -o lo -p tcp --sport "$P1" -m statistic --mode random --probability 0.08 -j DROP
start_capture "$here/lo_drop_output.pcap" "tcp port $P1"
for i in 1 2 3 4; do curl -s --limit-rate 4M -o /dev/null "http://127.0.0.1:$P1/400k.bin"; done
stop_capture

add_rule iptables filter INPUT -i lo -p tcp --sport "$P4" -m statistic --mode random --probability 0.08 -j DROP
start_capture "$here/lo_drop_input.pcap" "tcp port $P4"
for i in 1 2 3 4; do curl -s --limit-rate 4M -o /dev/null "http://127.0.0.1:$P4/400k.bin"; done
stop_capture

# --- 3: slow reader, keep-alives, port reuse over IPv6 -----------------------------------
add_rule ip6tables mangle OUTPUT -o lo -p tcp --dport "$P2" --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
add_rule ip6tables mangle OUTPUT -o lo -p tcp --sport "$P2" --tcp-flags SYN,RST SYN -j TCPMSS --set-mss 1400
cat > "$work/slow.py" <<'EOF'
import socket, sys, threading, time
port, cport, blob = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::1", port)); srv.listen(4)
def serve():
    for _ in range(2):
        c, _ = srv.accept()
        c.recv(100)
        c.sendall(blob)
        c.close()
threading.Thread(target=serve, daemon=True).start()
for rnd in range(2):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if rnd == 0:   # keep-alives while idle
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    s.bind(("::1", cport))
    s.connect(("::1", port))
    if rnd == 0:
        time.sleep(3.5)
    s.sendall(b"GET")
    got = 0
    while got < len(blob):
        time.sleep(0.02)
        d = s.recv(1024)
        if not d:
            break
        got += len(d)
    # abortive close (RST, no TIME_WAIT) so the same client port can connect again
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    time.sleep(0.3)
EOF
start_capture "$here/lo_slow_reader.pcap" "tcp port $P2"
python3 "$work/slow.py" "$P2" "$P3" "$work/150k.bin"
stop_capture
ls -l "$here"/*.pcap
