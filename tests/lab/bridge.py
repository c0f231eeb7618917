"""The impaired wire: a userspace Ethernet bridge between two veths, with faults.

This kernel has no netem qdisc, so delay, jitter, reordering and targeted drops are made
here: two AF_PACKET sockets in the lab's wire namespace, frames from w0 (the client's side)
go out of w1 and back, each one delayed, held back or dropped as the fault config says.
Every action on a packet is logged as one JSON line naming the packet (addresses, ports,
IPv4 id, TCP seq and payload length), so tests can find the same packets in the capture.

Run standalone inside the namespace (no package imports):
    python3 bridge.py CONFIG.json LOG.jsonl
CONFIG keys (all optional): seed, delay_ms, jitter_ms (uniform 0..jitter added, order kept),
reorder (probability that a TCP data segment is held back reorder_ms so later ones overtake),
reorder_ms, drop_server_hello (drop the first segment of every server's TLS ServerHello once),
reset_after_bytes (replace the first server data segment past N bytes of a connection by a
RST to the client), drop_first_syn (drop the first SYN of every connection once),
loss_s2c (probability that a server-to-client TCP data segment is dropped: loss one way),
loss_c2s (probability that a client-to-server TCP segment other than a SYN is dropped, bare
ACKs included: loss on the way up),
mtu (silently drop every frame whose IP packet is larger: a path-MTU black hole, no ICMP),
dns_delay_ms (hold DNS answers from the server side back this long). Stops on SIGTERM.
"""
from __future__ import annotations

import array
import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
TLS_HANDSHAKE, SERVER_HELLO = 22, 2
TCP_RST, TCP_ACK = 0x04, 0x10


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(array.array("H", data))  # native order; folded and swapped back below
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return socket.ntohs(~total & 0xFFFF) if sys.byteorder == "little" else ~total & 0xFFFF


class Packet:
    """The fields of one Ethernet frame that the faults and the log need."""

    def __init__(self, frame: bytes):
        self.frame = frame
        self.ip_version = 0
        self.proto = 0
        self.src = self.dst = ""
        self.ip_id = None
        self.sport = self.dport = 0
        self.seq = self.ack = self.flags = 0
        self.l3 = self.l4 = self.payload_off = 0
        ethertype = struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        if ethertype == 0x0800 and len(frame) >= 34:
            ihl = (frame[14] & 0x0F) * 4
            self.ip_version, self.proto = 4, frame[23]
            self.ip_id = struct.unpack_from("!H", frame, 18)[0]
            self.src, self.dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
            self.l3, self.l4 = 14, 14 + ihl
            self.ip_end = 14 + struct.unpack_from("!H", frame, 16)[0]
        elif ethertype == 0x86DD and len(frame) >= 54:
            self.ip_version, self.proto = 6, frame[20]
            self.src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
            self.dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
            self.l3, self.l4 = 14, 54
            self.ip_end = 54 + struct.unpack_from("!H", frame, 18)[0]
        if self.proto == 6 and len(frame) >= self.l4 + 20:
            self.sport, self.dport, self.seq, self.ack, off, self.flags = struct.unpack_from(
                "!HHIIBB", frame, self.l4)
            self.payload_off = self.l4 + (off >> 4) * 4
        elif self.proto == 17 and len(frame) >= self.l4 + 8:
            self.sport, self.dport = struct.unpack_from("!HH", frame, self.l4)

    @property
    def payload(self) -> bytes:
        return self.frame[self.payload_off:self.ip_end] if self.proto == 6 else b""

    @property
    def flow(self) -> tuple:
        return (self.src, self.sport, self.dst, self.dport)

    def describe(self) -> dict:
        d = {"ip_version": self.ip_version, "proto": self.proto, "src": self.src, "dst": self.dst}
        if self.ip_id is not None:
            d["ip_id"] = self.ip_id
        if self.proto == 6:
            d.update(sport=self.sport, dport=self.dport, seq=self.seq, ack=self.ack,
                     flags=self.flags, len=len(self.payload))
        return d


def record(action: str, **fields) -> str:
    """One line of the injector log."""
    return json.dumps({"t": round(time.time(), 6), "action": action, **fields}) + "\n"


def fix_l4_checksum(frame: bytearray, pkt: Packet) -> None:
    """Recompute the TCP/UDP checksum. veth offloads the checksum, so a frame taken off one
    veth may carry only the pseudo-header sum; sent out as is, the next hop would drop it."""
    if pkt.proto not in (6, 17) or not pkt.l4:
        return
    seg_len = pkt.ip_end - pkt.l4
    csum_at = pkt.l4 + (16 if pkt.proto == 6 else 6)
    frame[csum_at:csum_at + 2] = b"\0\0"
    if pkt.ip_version == 4:
        pseudo = frame[26:34] + struct.pack("!BBH", 0, pkt.proto, seg_len)
    else:
        pseudo = frame[22:54] + struct.pack("!IxxxB", seg_len, pkt.proto)
    value = checksum(bytes(pseudo) + bytes(frame[pkt.l4:pkt.ip_end]))
    if pkt.proto == 17 and value == 0:
        value = 0xFFFF
    struct.pack_into("!H", frame, csum_at, value)


def make_rst(pkt: Packet, seq: int | None = None) -> bytes:
    """A RST|ACK from the segment's sender, at the segment's sequence number (or `seq`), no
    payload."""
    frame = bytearray(pkt.frame[:pkt.l4 + 20])
    frame[pkt.l4 + 12] = 5 << 4  # 20-byte header: the options stay behind
    frame[pkt.l4 + 13] = TCP_RST | TCP_ACK
    if seq is not None:
        struct.pack_into("!I", frame, pkt.l4 + 4, seq)
    if pkt.ip_version == 4:
        struct.pack_into("!H", frame, 16, len(frame) - 14)
        frame[24:26] = b"\0\0"
        struct.pack_into("!H", frame, 24, checksum(bytes(frame[14:pkt.l4])))
    else:
        struct.pack_into("!H", frame, 18, len(frame) - 54)
    rst = Packet(bytes(frame))
    fix_l4_checksum(frame, rst)
    return bytes(frame)


class Bridge:
    def __init__(self, config: dict, log):
        self.cfg = config
        self.rng = random.Random(config.get("seed", 1))
        self.log = log
        self.socks = {}
        for name in ("w0", "w1"):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((name, 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            self.socks[name] = s
        self.queue: list = []
        self.counter = 0
        self.last_release = {"c2s": 0.0, "s2c": 0.0}
        self.hello_dropped: set = set()
        self.server_bytes: dict = {}
        self.reset_done: dict = {}      # server flow -> the segment its RST replaced
        self.reset_again: set = set()   # (server flow, seq) of the RSTs sent again
        self.syn_dropped: set = set()
        self.stats = {"forwarded": 0, "dropped": 0, "delayed": 0, "reordered": 0, "reset": 0}

    def note(self, action: str, direction: str, pkt: Packet, **extra) -> None:
        self.log.write(record(action, dir=direction, **pkt.describe(), **extra))

    def decide(self, direction: str, pkt: Packet, now: float) -> list[tuple]:
        """What to send for this frame: a list of (release time, frame), or (release time,
        frame, direction) for a frame sent the other way; empty = dropped."""
        cfg = self.cfg
        payload = pkt.payload
        if direction == "s2c" and pkt.proto == 6 and cfg.get("drop_server_hello"):
            # TLS record header (type 22) then handshake type 2 = ServerHello; dropped once per
            # connection, so the retransmission (same seq) gets through.
            if (len(payload) >= 6 and payload[0] == TLS_HANDSHAKE and payload[5] == SERVER_HELLO
                    and pkt.flow not in self.hello_dropped):
                self.hello_dropped.add(pkt.flow)
                self.note("drop", direction, pkt, reason="tls_server_hello")
                self.stats["dropped"] += 1
                return []
        if cfg.get("mtu") and len(pkt.frame) - 14 > cfg["mtu"]:
            self.note("drop", direction, pkt, reason="mtu")
            self.stats["dropped"] += 1
            return []
        if (direction == "c2s" and pkt.proto == 6 and cfg.get("drop_first_syn")
                and pkt.flags & 0x12 == 0x02 and pkt.flow not in self.syn_dropped):
            self.syn_dropped.add(pkt.flow)
            self.note("drop", direction, pkt, reason="first_syn")
            self.stats["dropped"] += 1
            return []
        if (direction == "s2c" and pkt.proto == 6 and payload and cfg.get("loss_s2c")
                and self.rng.random() < cfg["loss_s2c"]):
            self.note("drop", direction, pkt, reason="loss_s2c")
            self.stats["dropped"] += 1
            return []
        if (direction == "c2s" and pkt.proto == 6 and not pkt.flags & 0x02
                and cfg.get("loss_c2s") and self.rng.random() < cfg["loss_c2s"]):
            self.note("drop", direction, pkt, reason="loss_c2s")
            self.stats["dropped"] += 1
            return []
        if direction == "s2c" and pkt.proto == 17 and pkt.sport == 53 and cfg.get("dns_delay_ms"):
            self.note("delay", direction, pkt, delay_ms=cfg["dns_delay_ms"], reason="dns")
            return [(now + cfg["dns_delay_ms"] / 1000, pkt.frame)]
        if pkt.proto == 6 and cfg.get("reset_after_bytes"):
            reset = self.reset(direction, pkt, now)
            if reset is not None:
                return reset
        delay = cfg.get("delay_ms", 0) / 1000
        jitter = cfg.get("jitter_ms", 0) / 1000
        release = now + delay + (self.rng.uniform(0, jitter) if jitter else 0.0)
        if (cfg.get("reorder") and pkt.proto == 6 and payload
                and self.rng.random() < cfg["reorder"]):
            # Held back without moving the direction's release floor: later frames overtake it.
            held = release + cfg.get("reorder_ms", 20) / 1000
            self.note("reorder", direction, pkt, held_ms=round((held - now) * 1000, 3))
            self.stats["reordered"] += 1
            return [(held, pkt.frame)]
        # Jitter without reordering: never release before the previous frame of this direction.
        release = max(release, self.last_release[direction])
        self.last_release[direction] = release
        if delay or jitter:
            self.stats["delayed"] += 1
            if pkt.proto == 6:
                self.note("delay", direction, pkt, delay_ms=round((release - now) * 1000, 3))
        return [(release, pkt.frame)]

    def reset(self, direction: str, pkt: Packet, now: float) -> list | None:
        """The reset scenario: the first server segment past reset_after_bytes of each
        connection becomes a RST, and nothing more of the server's reaches the client. A
        client takes a RST only at exactly the sequence number it expects next (RFC 5961);
        if segments before the RST are still missing (reordered on the way), it answers
        with an ACK saying which, and the RST is sent again at that number. None: forward
        as usual."""
        if direction == "s2c":
            if pkt.flow in self.reset_done:
                self.note("drop", direction, pkt, reason="after_reset")
                self.stats["dropped"] += 1
                return []
            if not pkt.payload:
                return None
            sent = self.server_bytes.get(pkt.flow, 0) + len(pkt.payload)
            self.server_bytes[pkt.flow] = sent
            if sent <= self.cfg["reset_after_bytes"]:
                return None
            self.reset_done[pkt.flow] = pkt
            self.note("reset", direction, pkt, reason="reset_after_bytes")
            self.stats["reset"] += 1
            return [(now, make_rst(pkt))]
        server = (pkt.dst, pkt.dport, pkt.src, pkt.sport)
        replaced = self.reset_done.get(server)
        if (replaced is not None and pkt.flags & TCP_ACK and not pkt.flags & TCP_RST
                and pkt.ack != replaced.seq and (server, pkt.ack) not in self.reset_again):
            self.reset_again.add((server, pkt.ack))
            self.note("reset_again", "s2c", replaced, at_seq=pkt.ack)
            return [(now, pkt.frame), (now, make_rst(replaced, seq=pkt.ack), "s2c")]
        return None

    def run(self) -> None:
        by_fd = {s.fileno(): name for name, s in self.socks.items()}
        out_of = {"w0": ("w1", "c2s"), "w1": ("w0", "s2c")}
        running = True

        def stop(*_):
            nonlocal running
            running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while running:
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, _, out, frame = heapq.heappop(self.queue)
                self.send(out, frame)
            timeout = max(0.0, self.queue[0][0] - now) if self.queue else 0.2
            try:
                ready, _, _ = select.select(list(self.socks.values()), [], [], timeout)
            except InterruptedError:
                continue
            for sock in ready:
                name = by_fd[sock.fileno()]
                frame, addr = sock.recvfrom(65535)
                if addr[2] == PACKET_OUTGOING:  # our own transmissions, seen on the socket
                    continue
                out, direction = out_of[name]
                pkt = Packet(frame)
                now = time.monotonic()
                # (release time, frame) goes on this frame's way; a third item names the
                # direction of a frame sent the other way (a RST sent again)
                for release, data, *towards in self.decide(direction, pkt, now):
                    dest = out_of["w1" if towards == ["s2c"] else "w0"][0] if towards else out
                    self.counter += 1
                    if release <= now:
                        self.send(dest, data)
                    else:
                        heapq.heappush(self.queue, (release, self.counter, dest, data))
        self.log.write(record("stats", **self.stats))

    def send(self, out: str, frame: bytes) -> None:
        data = bytearray(frame)
        pkt = Packet(frame)
        fix_l4_checksum(data, pkt)
        try:
            self.socks[out].send(data)
            self.stats["forwarded"] += 1
        except OSError as exc:  # a frame the veth refuses (too large): logged, not fatal
            self.note("send_error", out, pkt, error=str(exc))


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    with open(sys.argv[2], "a", buffering=1) as log:
        log.write(record("start", config=config))
        Bridge(config, log).run()


if __name__ == "__main__":
    main()
