#!/bin/sh
# Records wire_loopback.pcap (+ wire_loopback.keylog), the loopback capture the wire oracle
# tests compare with tshark (tests/test_wire_tshark.py). Needs root for tcpdump. Only
# 127.0.0.1 / ::1 traffic on the ports below; every process started is stopped on exit.
#
#   1. TLS 1.2 (openssl s_server -tls1_2 -www, RSA certificate) and curl -k on 127.0.0.1,
#      ALPN offered (h2, http/1.1), none chosen: ServerHello, Certificate,
#      ServerKeyExchange, ServerHelloDone, ClientKeyExchange, CCS and Finished each way.
#   2. TLS 1.3 (openssl s_server -tls1_3 -www) and curl -k on ::1 (IPv6).
#   3. TLS 1.2 resumed: openssl s_client -sess_out then -sess_in (abbreviated handshake).
#   4. Plain HTTP/1.1: python http.server and curl with a query string (redacted by cnfpost).
#   5. A TLS client that offers nothing the server takes: s_server -tls1_3 against
#      curl --tls-max 1.2 -> a fatal protocol_version alert in clear.
#
#   sh tests/data/captures/record_wire.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
P1=38091
P2=38092
P3=38093
P4=38094
P5=38095
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj "/CN=localhost" 2>/dev/null
mkdir www && printf 'hello wire\n' > www/index.html

tcpdump -i lo -w "$here/wire_loopback.pcap" -U \
    "port $P1 or port $P2 or port $P3 or port $P4 or port $P5" 2>/dev/null &
pids="$pids $!"
sleep 1

openssl s_server -accept 127.0.0.1:$P1 -cert cert.pem -key key.pem -tls1_2 -www -quiet \
    -keylogfile keys1 >/dev/null 2>&1 &
pids="$pids $!"
openssl s_server -accept "[::1]:$P2" -cert cert.pem -key key.pem -tls1_3 -www -quiet \
    >/dev/null 2>&1 &
pids="$pids $!"
openssl s_server -accept 127.0.0.1:$P3 -cert cert.pem -key key.pem -tls1_2 -www -quiet \
    >/dev/null 2>&1 &
pids="$pids $!"
python3 -m http.server $P4 --bind 127.0.0.1 --directory www >/dev/null 2>&1 &
pids="$pids $!"
openssl s_server -accept 127.0.0.1:$P5 -cert cert.pem -key key.pem -tls1_3 -www -quiet \
    >/dev/null 2>&1 &
pids="$pids $!"
sleep 1

export SSLKEYLOGFILE="$work/keys"
curl -sk -o /dev/null "https://127.0.0.1:$P1/" || true
curl -sk -o /dev/null -g "https://[::1]:$P2/" || true
printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$P3 -sess_out sess \
    -quiet -keylogfile keys3 >/dev/null 2>&1 || true
printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect 127.0.0.1:$P3 -sess_in sess \
    -quiet -keylogfile keys3 >/dev/null 2>&1 || true
curl -s -o /dev/null "http://127.0.0.1:$P4/index.html?token=s3cr3t&x=1" || true
curl -sk -o /dev/null --tls-max 1.2 "https://127.0.0.1:$P5/" || true
sleep 1
cat keys keys3 > "$here/wire_loopback.keylog" 2>/dev/null || cat keys > "$here/wire_loopback.keylog"
