"""The dpkt side of the decode benchmark: the same fields as cnfpost's table, into NumPy.

This is how one would write it with dpkt (the usual way: Reader, Ethernet, attribute
access), kept straightforward rather than tuned.
"""
import socket
import sys

import dpkt
import numpy as np


def extract(path: str) -> dict[str, np.ndarray]:
    ts, src, dst, sport, dport, seq, ack, flags, win, plen = ([] for _ in range(10))
    with open(path, "rb") as fh:
        for t, buf in dpkt.pcap.Reader(fh):
            ts.append(int(t * 1e9))
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except (dpkt.UnpackError, dpkt.NeedData):
                continue
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP):
                src.append(int.from_bytes(ip.src, "big"))
                dst.append(int.from_bytes(ip.dst, "big"))
            elif isinstance(ip, dpkt.ip6.IP6):
                src.append(hash(socket.inet_ntop(socket.AF_INET6, ip.src)))
                dst.append(hash(socket.inet_ntop(socket.AF_INET6, ip.dst)))
            else:
                continue
            l4 = ip.data
            if isinstance(l4, dpkt.tcp.TCP):
                sport.append(l4.sport)
                dport.append(l4.dport)
                seq.append(l4.seq)
                ack.append(l4.ack)
                flags.append(l4.flags)
                win.append(l4.win)
                plen.append(len(l4.data))
            elif isinstance(l4, dpkt.udp.UDP):
                sport.append(l4.sport)
                dport.append(l4.dport)
    return {name: np.asarray(values) for name, values in
            (("ts", ts), ("src", src), ("dst", dst), ("sport", sport), ("dport", dport),
             ("seq", seq), ("ack", ack), ("flags", flags), ("win", win), ("plen", plen))}


if __name__ == "__main__":
    arrays = extract(sys.argv[1])
    print(len(arrays["ts"]))
