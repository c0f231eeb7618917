"""Generate the benchmark capture: N packets of realistic probe traffic, deterministically.

The mix follows anchors.md's benchmark: Ethernet carrying IPv4 and IPv6 TCP flows with
options (handshake, data with timestamps, ACKs, FIN), a few DNS queries and ICMP echoes,
all with a 96-byte snaplen. Flows are interleaved, sequence numbers advance, and about
one segment in 500 is sent twice (a retransmission), so TCP analysis has work to do.

    python benchmarks/make_capture.py benchmarks/data/bench_1m.pcap --packets 1000000

With --timings FILE it also writes curl -w '%{json}' lines for the connections that
completed, as curl on the probe would have reported them (t=0 one millisecond before the
SYN), so `cnfpost analyze capture --timings FILE` has samples to place.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import random
import struct
from pathlib import Path

SNAPLEN = 96
ETH_V4 = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
ETH_V6 = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd"
MSS = 1448


def _ipv4(src: int, dst: int, proto: int, payload_len: int, ident: int) -> bytes:
    return struct.pack("!BBHHHBBHII", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000, 64,
                       proto, 0, src, dst)


def _ipv6(src: bytes, dst: bytes, proto: int, payload_len: int) -> bytes:
    return struct.pack("!IHBB", 0x60000000, payload_len, proto, 64) + src + dst


def _tcp(sport, dport, seq, ack, flags, win, tsval, tsecr, syn=False) -> bytes:
    if syn:
        opts = (struct.pack("!BBH", 2, 4, MSS) + b"\x04\x02" + struct.pack("!BBII", 8, 10, tsval, tsecr)
                + b"\x01" + struct.pack("!BBB", 3, 3, 7))
    else:
        opts = b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, tsecr)
    hdr_len = 20 + len(opts)
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       (hdr_len // 4) << 4, flags, win, 0, 0) + opts


class Flow:
    """One TCP connection: client sends a request, server answers with `segments` segments."""

    def __init__(self, rng: random.Random, index: int, v6: bool):
        self.v6 = v6
        self.client_port = 20000 + index % 40000
        self.server_port = 443
        self.cseq = rng.getrandbits(32)
        self.sseq = rng.getrandbits(32)
        self.segments = rng.randint(20, 400)
        self.step = 0
        self.ident = rng.getrandbits(16)
        self.marks: dict[str, int] = {}  # milestone -> time (µs) for --timings
        if v6:
            self.caddr = bytes.fromhex("fd000000000000000000000000000002")
            self.saddr = bytes.fromhex("fd0000000000000000000000000a") + struct.pack("!H", index % 997)
        else:
            self.caddr = 0xC6120102
            self.saddr = 0xC6120300 | (index % 200)

    def packets(self, rng: random.Random, t_us: int):
        """Yield (direction, tcp header bytes, payload length) for the next step, or None."""
        s = self.step
        self.step += 1
        ts = (t_us // 1000) & 0xFFFFFFFF  # TSval is a 32-bit clock
        if s == 0:
            return [(0, _tcp(self.client_port, 443, self.cseq, 0, 0x02, 64240, ts, 0, True), 0)]
        if s == 1:
            return [(1, _tcp(443, self.client_port, self.sseq, self.cseq + 1, 0x12, 65160, ts, ts, True), 0)]
        if s == 2:
            self.cseq += 1
            self.sseq += 1
            return [(0, _tcp(self.client_port, 443, self.cseq, self.sseq, 0x10, 502, ts, ts), 0),
                    (0, _tcp(self.client_port, 443, self.cseq, self.sseq, 0x18, 502, ts, ts), 517)]
        if s - 3 < self.segments:
            if s == 3:
                self.cseq += 517
            out = [(1, _tcp(443, self.client_port, self.sseq, self.cseq, 0x10, 509, ts, ts), MSS)]
            if rng.random() < 0.002:  # a retransmission of the same segment
                out.append(out[0])
            self.sseq += MSS
            if s % 2:
                out.append((0, _tcp(self.client_port, 443, self.cseq, self.sseq, 0x10, 2000, ts, ts), 0))
            return out
        if s - 3 == self.segments:
            return [(0, _tcp(self.client_port, 443, self.cseq, self.sseq, 0x11, 2000, ts, ts), 0),
                    (1, _tcp(443, self.client_port, self.sseq, self.cseq + 1, 0x11, 509, ts, ts), 0),
                    (0, _tcp(self.client_port, 443, self.cseq + 1, self.sseq + 1, 0x10, 2000, ts, ts), 0)]
        return None

    def timings(self) -> dict | None:
        """The curl -w '%{json}' object of this connection, if it completed."""
        marks = self.marks
        if not {"syn", "synack", "request", "first", "last"} <= set(marks):
            return None
        t0 = marks["syn"] - 1000  # curl starts 1 ms (DNS) before its SYN

        def at(name: str) -> float:
            return round((marks[name] - t0) / 1e6, 6)

        return {"time_namelookup": 0.001, "time_connect": at("synack"),
                "time_appconnect": at("request"), "time_pretransfer": at("request"),
                "time_starttransfer": at("first"), "time_total": at("last"),
                "local_port": self.client_port, "remote_port": 443,
                "remote_ip": _address_text(self.saddr),
                "local_ip": _address_text(self.caddr), "num_connects": 1, "exitcode": 0,
                "http_code": 200, "http_version": "1.1", "scheme": "HTTPS",
                "url": f"https://bench.test/{self.client_port}", "size_download": self.segments * MSS}

    def frame(self, direction: int, tcp: bytes, payload_len: int) -> bytes:
        src, dst = (self.caddr, self.saddr) if direction == 0 else (self.saddr, self.caddr)
        self.ident += 1
        body = tcp + bytes(payload_len)
        if self.v6:
            return ETH_V6 + _ipv6(src, dst, 6, len(body)) + body
        return ETH_V4 + _ipv4(src, dst, 6, len(body), self.ident) + body


def _address_text(addr) -> str:
    if isinstance(addr, bytes):
        return str(ipaddress.IPv6Address(addr))
    return str(ipaddress.IPv4Address(addr))


def _dns_frame(rng: random.Random, n: int) -> bytes:
    query = struct.pack("!HHHHHH", n & 0xFFFF, 0x0100, 1, 0, 0, 0) + b"\x06origin\x03lab\x04test\x00\x00\x01\x00\x01"
    udp = struct.pack("!HHHH", 40000 + n % 20000, 53, 8 + len(query), 0) + query
    return ETH_V4 + _ipv4(0xC6120102, 0xC6120302, 17, len(udp), n) + udp


def _icmp_frame(n: int) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, n & 0xFFFF) + bytes(56)
    return ETH_V4 + _ipv4(0xC6120102, 0xC6120302, 1, len(icmp), n) + icmp


def generate(path: Path, packets: int, seed: int = 1, timings: Path | None = None) -> int:
    rng = random.Random(seed)
    record = struct.Struct("<IIII")
    t_us = 1_795_627_665_000_000
    active: list[Flow] = []
    finished: list[Flow] = []
    next_flow = 0
    written = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
        while written < packets:
            while len(active) < 32:
                active.append(Flow(rng, next_flow, v6=next_flow % 5 == 4))
                next_flow += 1
            roll = rng.random()
            if roll < 0.01:
                frames = [_dns_frame(rng, written)]
            elif roll < 0.02:
                frames = [_icmp_frame(written)]
            else:
                flow = active[rng.randrange(len(active))]
                steps = flow.packets(rng, t_us)
                if steps is None:
                    active.remove(flow)
                    finished.append(flow)
                    continue
                frames = [flow.frame(*step) for step in steps]
            for k, frame in enumerate(frames):
                if written >= packets:
                    break
                t_us += rng.randint(1, 60)
                if roll >= 0.02:
                    _mark(flow, steps[k], t_us)
                cap = frame[:SNAPLEN]
                out.write(record.pack(t_us // 1_000_000, t_us % 1_000_000, len(cap), len(frame)))
                out.write(cap)
                written += 1
    if timings is not None:
        with open(timings, "w") as out:
            for flow in finished:
                obj = flow.timings()
                if obj is not None:
                    out.write(json.dumps(obj) + "\n")
    return written


def _mark(flow: Flow, step: tuple, t_us: int) -> None:
    """Remember when the connection's milestones went out (for --timings)."""
    direction, tcp, payload_len = step
    flags = tcp[13]
    if flags == 0x02:
        flow.marks.setdefault("syn", t_us)
    elif flags == 0x12:
        flow.marks.setdefault("synack", t_us)
    elif direction == 0 and payload_len:
        flow.marks.setdefault("request", t_us)
    elif direction == 1 and payload_len:
        flow.marks.setdefault("first", t_us)
        flow.marks["last"] = t_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timings", type=Path, help="also write curl timings for the flows")
    args = parser.parse_args()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    n = generate(args.path, args.packets, args.seed, args.timings)
    print(f"wrote {n:,} packets to {args.path} ({args.path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
